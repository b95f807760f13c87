# Runs the tests. Exit status: 0 all passed, 1 a test failed, 2 hiker.sh is broken.
sh ./test_hiker.sh
