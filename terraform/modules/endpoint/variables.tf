variable "name" {
  description = "Name of the endpoint; model and endpoint-configuration names add a suffix derived from their content."
  type        = string
}

variable "role_arn" {
  description = "SageMaker execution role."
  type        = string
}

variable "image_uri" {
  description = "ECR image of the inference container."
  type        = string
}

variable "model_data_url" {
  description = "s3:// URL of the model.tar.gz to serve."
  type        = string
}

variable "environment" {
  description = "Environment of the inference container."
  type        = map(string)
  default     = {}
}

variable "endpoint_type" {
  description = "realtime (instances, autoscaling) or serverless (memory, concurrency)."
  type        = string
}

variable "realtime" {
  description = "Instances and autoscaling of a real-time endpoint, and the KMS key of its instances' storage volume (null: SageMaker's default encryption)."
  type = object({
    instance_type                   = string
    kms_key_arn                     = optional(string)
    initial_instance_count          = number
    min_capacity                    = number
    max_capacity                    = number
    target_invocations_per_instance = number
  })
}

variable "serverless" {
  description = "Memory and concurrency of a serverless endpoint."
  type = object({
    memory_size_in_mb       = number
    max_concurrency         = number
    provisioned_concurrency = number
  })
}

variable "rollback" {
  description = "Blue/green rollout: bake time and the alarm thresholds that roll it back."
  type = object({
    wait_interval_in_seconds = number
    max_5xx_errors           = number
    max_model_latency_ms     = number
  })
}
