variable "bucket_name" {
  description = "Name of the bucket for training data and model artifacts."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be 3-63 characters of a-z, 0-9, '.' and '-'."
  }
}

variable "force_destroy" {
  description = "Delete every object (and version) when the bucket is destroyed."
  type        = bool
  default     = false
}

variable "noncurrent_version_expiration_days" {
  description = "Days after which replaced object versions are deleted; null: keep them (no lifecycle rule)."
  type        = number
  default     = 90
}
