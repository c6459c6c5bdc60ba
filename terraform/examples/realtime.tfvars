# A real-time endpoint: instances that scale on invocations per instance, rolled out blue/green.
# invoke deploy --target aws --var-file terraform/examples/realtime.tfvars
endpoint_type = "realtime"

realtime = {
  instance_type                   = "ml.m5.large"
  initial_instance_count          = 1
  min_capacity                    = 1
  max_capacity                    = 4
  target_invocations_per_instance = 200 # per instance per minute
}

rollback = {
  wait_interval_in_seconds = 600 # bake the new fleet 10 minutes before the old one goes
  max_5xx_errors           = 5
  max_model_latency_ms     = 1500
}

throttle = {
  rate_limit  = 20
  burst_limit = 40
  daily_quota = 50000
}
