"""Running a sandbox: one hardened container per run (`spec`), the supervisor binary it starts
with (`supervisor`), the request going in (`files`, `feed`), the result coming out (`stream`,
`harvest`, `text`), warm containers (`pool`), a uid per container (`uids`) and the `runner` that
ties them together."""
