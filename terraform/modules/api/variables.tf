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
  description = "Set the region's API Gateway account CloudWatch role (needed once per account and region for access logs)."
  type        = bool
}
