from tests.helpers import run


def test_a_failing_pytest_run_is_reported_with_its_assertion_in_stdout(api):
    files = {
        "cyber-dojo.sh": "python3 -m pytest -q",
        "test_hiker.py": "def test_answer():\n    assert 6 * 9 == 42\n",
    }
    result = run(api, files, image="greenbar/python-pytest")
    assert result["outcome"] == "red"
    assert result["status"] == 1
    assert "assert (6 * 9) == 42" in result["stdout"]["content"]
