"""The doors to the outside world, and the only modules that touch it: the Docker engine
(`engine`, `archive`), Redis (`store`, `locks`, `end_notices`), the clock (`clock`) and random ids
(`ids`). Everything else in `app/` is given these and never imports docker, redis, time or
secrets."""
