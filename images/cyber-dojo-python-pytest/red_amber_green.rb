# The traffic light of a pytest run, as a cyber-dojo rag lambda: pytest exits 0 when every
# test passed and 1 when one failed; anything else (2: a collection error such as a
# SyntaxError, 5: no tests) means the tests did not run.
lambda { |stdout, _stderr, status|
  return :green if status == 0
  return :red if status == 1 && stdout =~ /\b\d+ failed\b/
  :amber
}
