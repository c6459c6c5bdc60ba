variable "name" {
  description = "Name of the REST API, its key and usage plan."
  type        = string
}

variable "stage_name" {
  description = "Stage the API is deployed to."
  type        = string
}

variable "lambda_function_name" {
  description = "Function behind POST /predict."
  type        = string
}

variable "lambda_invoke_arn" {
  description = "Invoke ARN of that function."
  type        = string
}

variable "binary_media_types" {
  description = "Content types API Gateway passes to the Lambda as base64 (image bodies)."
  type        = list(string)
}

variable "throttle" {
  description = "Requests per second (rate), burst and the daily quota of the usage plan."
  type = object({
    rate_limit  = number
    burst_limit = number
    daily_quota = number
  })
}

variable "log_retention_days" {
  description = "Days the access logs are kept."
  type        = number
}

variable "manage_cloudwatch_role" {
  description = "Create a CloudWatch role and set it as the region's API Gateway account setting (shared by every API there; unset again on destroy)."
  type        = bool
}

variable "logging" {
  description = "Access logs on or off, and the execution-log level (OFF, ERROR, INFO); both need the account's CloudWatch role."
  type = object({
    access_logs     = bool
    execution_level = string
  })
}

variable "waf_web_acl_arn" {
  description = "Regional WAFv2 web ACL to associate with the stage; null: none."
  type        = string
  default     = null
}

variable "cors_allowed_origins" {
  description = "Browser origins (scheme://host[:port], or \"*\") that may call the API; empty: no CORS."
  type        = list(string)
  default     = []
}

variable "try_it_page" {
  description = "Serve the try-it page at GET / (the Lambda answers it)."
  type        = bool
  default     = true
}

variable "clients" {
  description = "API clients by name, each with its own API key and usage plan: requests per second, burst, and a quota of requests per period (DAY, WEEK or MONTH)."
  type = map(object({
    rate_limit   = number
    burst_limit  = number
    quota_limit  = number
    quota_period = string
  }))
  default = {}
}

variable "authorization" {
  description = "Method authorization: NONE (API keys only) or AWS_IAM (SigV4-signed requests, for server-to-server callers)."
  type        = string
  default     = "NONE"

  validation {
    condition     = contains(["NONE", "AWS_IAM"], var.authorization)
    error_message = "authorization must be NONE or AWS_IAM."
  }
}

variable "api_key_required" {
  description = "Whether every request must carry an API key of a usage plan (x-api-key)."
  type        = bool
  default     = true
}

variable "retry_after_seconds" {
  description = "Retry-After (seconds) of the 429 answers: throttled, and quota exceeded."
  type = object({
    throttled      = number
    quota_exceeded = number
  })
  default = {
    throttled      = 1
    quota_exceeded = 3600
  }
}
