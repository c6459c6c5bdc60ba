variable "name" {
  description = "Prefix of the role name (<name>-training)."
  type        = string
}

variable "bucket_arn" {
  description = "ARN of the data and artifacts bucket."
  type        = string
}

variable "bucket_prefix" {
  description = "Key prefix of the project's objects in the bucket (ends in '/'): images/, train_lst/, validation_lst/ and code/ are read below it, output/ and checkpoints/ written."
  type        = string
}

variable "image_uris" {
  description = "ECR images training jobs run in (the SageMaker PyTorch training image, the built-in algorithm's); the role may pull only these repositories (none when empty)."
  type        = list(string)

  validation {
    condition     = alltrue([for uri in var.image_uris : can(regex("^[0-9]{12}\\.dkr\\.ecr\\.[a-z0-9-]+\\.amazonaws\\.com(\\.cn)?/[a-z0-9._/-]+(:[A-Za-z0-9._-]+|@sha256:[a-f0-9]{64})?$", uri))])
    error_message = "image_uris must list ECR image URIs, <account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>."
  }
}
