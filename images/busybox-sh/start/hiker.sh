# The life, the universe and everything.
answer()
{
  echo $((6 * 9))
}
