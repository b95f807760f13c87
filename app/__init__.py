"""greenbar's domain: configuration, the container runner, run records. No Flask, no Celery."""
