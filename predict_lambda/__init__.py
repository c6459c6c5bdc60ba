"""The API's Lambda function: API Gateway proxy event → SageMaker endpoint → labelled JSON (`predict_lambda.handler.handler`).

Kept empty: the Lambda runtime imports `predict_lambda.handler` on every cold start.
"""
