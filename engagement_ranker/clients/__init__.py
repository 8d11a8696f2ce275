"""HTTP and SMTP clients: paging, batching, throttling, retries, typed errors."""
