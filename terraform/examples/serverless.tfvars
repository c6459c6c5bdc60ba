# A serverless endpoint: pay per request; cold starts unless provisioned concurrency is set.
# invoke deploy --target aws --var-file terraform/examples/serverless.tfvars
endpoint_type = "serverless"

serverless = {
  memory_size_in_mb       = 3072 # 1024 to 6144 in steps of 1024
  max_concurrency         = 10
  provisioned_concurrency = 0 # > 0 keeps that many warm (billed by the hour)
}

lambda = {
  memory_size          = 256
  timeout              = 25
  reserved_concurrency = 10
  log_retention_days   = 30
}
