output "api_id" {
  description = "ID of the REST API."
  value       = aws_api_gateway_rest_api.this.id
}

output "stage_name" {
  description = "Stage the API is deployed to."
  value       = aws_api_gateway_stage.this.stage_name
}

output "invoke_url_stage" {
  description = "Invoke URL of the stage."
  value       = aws_api_gateway_stage.this.invoke_url
}

output "invoke_url" {
  description = "URL of POST /predict."
  value       = "${aws_api_gateway_stage.this.invoke_url}/${aws_api_gateway_resource.predict.path_part}"
}

output "api_key_id" {
  description = "ID of the API key."
  value       = aws_api_gateway_api_key.this.id
}

output "api_key_value" {
  description = "The API key (send it as x-api-key)."
  value       = aws_api_gateway_api_key.this.value
  sensitive   = true
}

output "client_api_keys" {
  description = "Each client's API key by client name (send it as x-api-key)."
  value       = { for name, key in aws_api_gateway_api_key.client : name => key.value }
  sensitive   = true
}

output "client_usage_plan_ids" {
  description = "Each client's usage plan ID by client name."
  value       = { for name, plan in aws_api_gateway_usage_plan.client : name => plan.id }
}

output "invoke_policy_arn" {
  description = "IAM policy allowing execute-api:Invoke on POST /predict (AWS_IAM only; else null)."
  value       = one(aws_iam_policy.invoke[*].arn)
}
