# frozen_string_literal: true

# greenbar's Ruby rag lambdas: a child of evaluate.py, inside greenbar/evaluator.
#
# IN   the requests evaluate.py passes on, one JSON object per line on stdin (see evaluate.py).
# RUN  a source is evaluated once per key, in a binding of its own with no local variables, and
#      must give something callable (a lambda); that is called with (stdout, stderr, status.to_i)
#      and its answer's to_s must be red, amber or green, so symbols do. This is the contract of
#      cyber-dojo's red_amber_green.rb. Evaluating and calling share one time limit.
# OUT  one JSON object per line on stdout: {"outcome", "log"}, or {"unknown": true} for a key
#      not evaluated here (this child may be new: the one before it was killed).

require 'json'
require 'timeout'

COLOURS = %w[red amber green].freeze
SHOWN = 500 # characters of an error message or a wrong answer, in a log
Entry = Struct.new(:source, :callable, :failure)

# A binding with no local variables, so one lambda cannot see another or this program's.
def fresh_binding
  binding
end

def utf8(text)
  text.to_s.dup.force_encoding(Encoding::UTF_8).scrub('?')
end

def said(error)
  utf8("#{error.class}: #{error.message}")[0, SHOWN]
end

def faulty(why, source)
  log = source.to_s.empty? ? why : "#{why}\n--- rag lambda source ---\n#{source}"
  { outcome: 'faulty', log: utf8(log) }
end

def took_too_long(limit, source)
  faulty("the rag lambda took longer than its time limit of #{limit} s", source)
end

def evaluated(source, seconds)
  callable = Timeout.timeout(seconds) { fresh_binding.eval(source, 'red_amber_green.rb') }
  return Entry.new(source, callable, nil) if callable.respond_to?(:call)

  Entry.new(source, nil, "the rag lambda does not evaluate to a lambda but to #{utf8(callable.inspect)[0, SHOWN]}")
rescue Timeout::Error
  Entry.new(source, nil, :timeout)
rescue Exception => e # rubocop:disable Lint/RescueException -- a SyntaxError is no StandardError
  Entry.new(source, nil, "the rag lambda does not compile: #{said(e)}")
end

def called(entry, request, seconds, limit)
  answer, colour = Timeout.timeout(seconds) do
    given = entry.callable.call(request['stdout'], request['stderr'], request['status'].to_i)
    [given, given.to_s]
  end
  return { outcome: colour, log: '' } if COLOURS.include?(colour)

  faulty("the rag lambda returned #{utf8(answer.inspect)[0, SHOWN]}, not red, amber or green", entry.source)
rescue Timeout::Error
  took_too_long(limit, entry.source)
rescue Exception => e # rubocop:disable Lint/RescueException
  faulty("the rag lambda raised #{said(e)}", entry.source)
end

def answer(lambdas, line)
  request = JSON.parse(line)
  key, source, limit = request['key'], request['source'], Float(request['limit'])
  return({ unknown: true }) if source.nil? && !lambdas.key?(key)

  deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + limit
  lambdas[key] = evaluated(source, limit) unless source.nil?
  entry = lambdas[key]
  return took_too_long(limit, entry.source) if entry.failure == :timeout
  return faulty(entry.failure, entry.source) if entry.failure

  remaining = [deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC), 0.001].max
  called(entry, request, remaining, limit)
rescue StandardError => e
  faulty("the Ruby evaluator could not read the request: #{said(e)}", '')
end

def main
  replies = $stdout.dup
  $stdout.reopen($stderr) # whatever a lambda prints goes to stderr, never into the replies
  lambdas = {}
  $stdin.each_line do |line|
    replies.write("#{JSON.generate(answer(lambdas, line))}\n")
    replies.flush
  end
end

main
