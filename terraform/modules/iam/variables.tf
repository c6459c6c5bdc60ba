variable "name" {
  description = "Prefix of the role names."
  type        = string
}

variable "bucket_arn" {
  description = "ARN of the data and artifacts bucket."
  type        = string
}

variable "bucket_prefix" {
  description = "Key prefix in the bucket that SageMaker may read (ends in '/')."
  type        = string
}

variable "model_data_url" {
  description = "s3:// URL of the model artifact the endpoint serves (it may live outside the bucket)."
  type        = string
}

variable "image_uri" {
  description = "ECR image of the inference container."
  type        = string
}

variable "endpoint_name" {
  description = "Name of the SageMaker endpoint the Lambda may invoke."
  type        = string
}

variable "lambda_function_name" {
  description = "Name of the Lambda function (its log group is /aws/lambda/<name>)."
  type        = string
}
