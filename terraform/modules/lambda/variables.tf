variable "function_name" {
  description = "Name of the function."
  type        = string
}

variable "role_arn" {
  description = "Execution role of the function."
  type        = string
}

variable "package" {
  description = "The deployment zip (built by ops/deploy/lambda_package.py) and its base64 SHA-256."
  type = object({
    path        = string
    sha256_b64  = string
    handler     = string
    runtime     = string
    memory_size = number
    timeout     = number
  })
}

variable "environment" {
  description = "Environment variables of the function."
  type        = map(string)
}

variable "reserved_concurrency" {
  description = "Most concurrent executions (also bounds what the endpoint sees)."
  type        = number
}

variable "log_retention_days" {
  description = "Days the function's logs are kept."
  type        = number
}
