"""cyber-dojo's image contract, end to end through the API and the real worker: bash where the
image has it, HOME and the CYBER_DOJO_* variables, the home helper files, sent files' mode."""

from tests.helpers import run

BUSYBOX = "greenbar/busybox-sh"
PYTHON = "greenbar/python-pytest"
BASH_ONLY = 'source /dev/null\nif [[ "a" == a* ]]; then echo "bash $BASH_VERSION"; fi\n'


def test_cyber_dojo_sh_runs_with_bash_where_the_image_has_it(api):
    result = run(api, {"cyber-dojo.sh": BASH_ONLY}, image=PYTHON)
    assert result["stdout"]["content"].startswith("bash 5."), result
    assert result["stderr"]["content"] == ""
    assert result["status"] == 0


def test_cyber_dojo_sh_runs_with_sh_where_the_image_has_no_bash(api):
    script = 'echo "bash=${BASH_VERSION:-none}"; ls /bin/bash /usr/bin/bash 2>&1 | wc -l\n'
    result = run(api, {"cyber-dojo.sh": script}, image=BUSYBOX)
    assert result["stdout"]["content"] == "bash=none\n2\n", result
    assert result["status"] == 0
