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
