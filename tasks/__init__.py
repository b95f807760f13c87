"""greenbar's Celery side: the app factory, queues and routes, and thin task adapters."""
