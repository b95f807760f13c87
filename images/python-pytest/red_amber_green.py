# greenbar/python-pytest's rag lambda. pytest exits 0 when every test passed and 1 when some
# failed; 2 (a collection error, e.g. a SyntaxError), 5 (no tests) or anything else means the
# tests did not run.
import re


def colour(stdout, stderr, status):
    if status == 0:
        return "green"
    if status == 1 and re.search(r"\b\d+ failed\b", stdout):
        return "red"
    return "amber"
