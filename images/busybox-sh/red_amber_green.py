# greenbar/busybox-sh's rag lambda: test_hiker.sh exits 0 and prints PASSED when every test
# passes, exits 1 and prints FAILED: when a test fails, and anything else means the code did
# not parse or run.


def colour(stdout, stderr, status):
    if status == 0 and "PASSED" in stdout:
        return "green"
    if status == 1 and "FAILED:" in stdout:
        return "red"
    return "amber"
