# greenbar's ~/cyber_dojo_fs_cleaners.sh, for cyber-dojo start points, which source it.
#
# greenbar returns the text files /sandbox holds after a run, as cyber-dojo does; a
# cyber-dojo.sh calls these, usually from an EXIT trap, to keep a tool's leftovers (such as
# .pytest_cache) out of the result. Names are relative to the current directory, /sandbox.
# POSIX sh, so bash and sh alike can source it. Each always succeeds, as a trap under
# `set -e` must not fail; the loop variables are prefixed so they clash with nothing of the
# caller's.

# Removes each directory named, with all it holds.
cyber_dojo_delete_dirs() {
  for cyber_dojo_fs_dir_ in "$@"; do
    rm -rf -- "$cyber_dojo_fs_dir_" 2>/dev/null
  done
  return 0
}

# Removes each file named.
cyber_dojo_delete_files() {
  for cyber_dojo_fs_file_ in "$@"; do
    rm -f -- "$cyber_dojo_fs_file_" 2>/dev/null
  done
  return 0
}

# Leaves each directory named empty, making it if need be (older katas' scripts call it).
cyber_dojo_reset_dirs() {
  for cyber_dojo_fs_dir_ in "$@"; do
    rm -rf -- "$cyber_dojo_fs_dir_" 2>/dev/null
    mkdir -p -- "$cyber_dojo_fs_dir_" 2>/dev/null
  done
  return 0
}
