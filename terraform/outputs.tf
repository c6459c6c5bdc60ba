output "api_invoke_url" {
  description = "Invoke URL of the API stage (https://<api>.execute-api.<region>.amazonaws.com/<stage>)."
  value       = module.api.invoke_url_stage
}

output "api_predict_url" {
  description = "URL of POST /predict."
  value       = module.api.invoke_url
}

output "api_id" {
  description = "ID of the REST API."
  value       = module.api.api_id
}

output "api_stage_name" {
  description = "Stage the API is deployed to."
  value       = module.api.stage_name
}

output "api_key_id" {
  description = "ID of the API key."
  value       = module.api.api_key_id
}

output "api_key_value" {
  description = "The API key; send it as the x-api-key header. `terraform output -raw api_key_value`."
  value       = module.api.api_key_value
  sensitive   = true
}

output "api_client_keys" {
  description = "Each API client's key by name (api_clients); `terraform output -json api_client_keys`."
  value       = module.api.client_api_keys
  sensitive   = true
}

output "api_client_usage_plan_ids" {
  description = "Each API client's usage plan ID by name."
  value       = module.api.client_usage_plan_ids
}

output "api_invoke_policy_arn" {
  description = "IAM policy to attach to server-to-server callers (api_authorization = AWS_IAM; else null)."
  value       = module.api.invoke_policy_arn
}

output "endpoint_name" {
  description = "Name of the SageMaker endpoint."
  value       = module.endpoint.endpoint_name
}

output "endpoint_arn" {
  description = "ARN of the SageMaker endpoint."
  value       = module.endpoint.endpoint_arn
}

output "endpoint_config_name" {
  description = "Endpoint configuration in service."
  value       = module.endpoint.endpoint_config_name
}

output "model_name" {
  description = "SageMaker model in service."
  value       = module.endpoint.model_name
}

output "lambda_function_name" {
  description = "Name of the API's Lambda function."
  value       = module.lambda.function_name
}

output "lambda_function_arn" {
  description = "ARN of the API's Lambda function."
  value       = module.lambda.function_arn
}

output "bucket_name" {
  description = "Bucket for data and model artifacts."
  value       = module.storage.bucket_name
}

output "sagemaker_role_arn" {
  description = "SageMaker execution role of the endpoint (it may only read the artifact; training jobs use training_role_arn)."
  value       = module.iam.sagemaker_role_arn
}

output "training_role_arn" {
  description = "SageMaker execution role of training and tuning jobs: `invoke train --target aws` uses it unless --role is given."
  value       = module.training.role_arn
}
