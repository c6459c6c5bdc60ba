locals {
  realtime     = var.endpoint_type == "realtime"
  variant_name = "AllTraffic" # blue/green needs the same variant name in old and new configuration

  # The container needs no network (SageMaker itself fetches the artifact and the image), but
  # Serverless Inference does not support network isolation ("Feature exclusions" in
  # https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html): on for real-time only.
  network_isolation = local.realtime

  # A new artifact, image, environment or isolation is a new model; a new model or capacity a new
  # configuration. The names carry a hash of that content, so the replacement exists before the old one goes.
  model_hash = substr(sha256(jsonencode([var.image_uri, var.model_data_url, var.environment, var.role_arn, local.network_isolation])), 0, 10)
  config_hash = substr(sha256(jsonencode([
    local.model_hash, var.endpoint_type,
    # (the key joins the hash only when set, so configurations without one keep their names)
    local.realtime ? concat([var.realtime.instance_type, var.realtime.initial_instance_count], var.realtime.kms_key_arn == null ? [] : [var.realtime.kms_key_arn]) : [],
    local.realtime ? [] : [var.serverless.memory_size_in_mb, var.serverless.max_concurrency, var.serverless.provisioned_concurrency],
  ])), 0, 10)
}

resource "aws_sagemaker_model" "this" {
  # checkov:skip=CKV_AWS_370:Network isolation is on for real-time endpoints; Serverless Inference does not support it (see locals).
  name                     = "${var.name}-${local.model_hash}"
  execution_role_arn       = var.role_arn
  enable_network_isolation = local.network_isolation

  primary_container {
    image          = var.image_uri
    model_data_url = var.model_data_url
    environment    = var.environment
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_sagemaker_endpoint_configuration" "this" {
  name = "${var.name}-${local.config_hash}"

  # The instances' storage volume; serverless endpoints take no key (see variables.tf).
  kms_key_arn = local.realtime ? var.realtime.kms_key_arn : null

  production_variants {
    variant_name           = local.variant_name
    model_name             = aws_sagemaker_model.this.name
    instance_type          = local.realtime ? var.realtime.instance_type : null
    initial_instance_count = local.realtime ? var.realtime.initial_instance_count : null

    dynamic "serverless_config" {
      for_each = local.realtime ? [] : [var.serverless]

      content {
        memory_size_in_mb       = serverless_config.value.memory_size_in_mb
        max_concurrency         = serverless_config.value.max_concurrency
        provisioned_concurrency = serverless_config.value.provisioned_concurrency > 0 ? serverless_config.value.provisioned_concurrency : null
      }
    }
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_cloudwatch_metric_alarm" "rollback" {
  for_each = {
    "5xx-errors" = {
      metric    = "Invocation5XXErrors"
      statistic = "Sum"
      threshold = var.rollback.max_5xx_errors
    }
    "model-latency" = {
      metric    = "ModelLatency" # microseconds
      statistic = "Average"
      threshold = var.rollback.max_model_latency_ms * 1000
    }
  }

  alarm_name          = "${var.name}-${each.key}"
  alarm_description   = "Rolls back a blue/green update of endpoint ${var.name} when ${each.value.metric} is too high."
  namespace           = "AWS/SageMaker"
  metric_name         = each.value.metric
  statistic           = each.value.statistic
  comparison_operator = "GreaterThanThreshold"
  threshold           = each.value.threshold
  period              = 60
  evaluation_periods  = 2
  treat_missing_data  = "notBreaching"

  dimensions = {
    EndpointName = var.name
    VariantName  = local.variant_name
  }
}

resource "aws_sagemaker_endpoint" "this" {
  name                 = var.name
  endpoint_config_name = aws_sagemaker_endpoint_configuration.this.name

  deployment_config {
    blue_green_update_policy {
      traffic_routing_configuration {
        type                     = "ALL_AT_ONCE"
        wait_interval_in_seconds = var.rollback.wait_interval_in_seconds
      }
    }

    auto_rollback_configuration {
      dynamic "alarms" {
        for_each = aws_cloudwatch_metric_alarm.rollback

        content {
          alarm_name = alarms.value.alarm_name
        }
      }
    }
  }
}

# ---- Real-time only: scale the variant on invocations per instance.
resource "aws_appautoscaling_target" "this" {
  count = local.realtime ? 1 : 0

  service_namespace  = "sagemaker"
  resource_id        = "endpoint/${aws_sagemaker_endpoint.this.name}/variant/${local.variant_name}"
  scalable_dimension = "sagemaker:variant:DesiredInstanceCount"
  min_capacity       = var.realtime.min_capacity
  max_capacity       = var.realtime.max_capacity
}

resource "aws_appautoscaling_policy" "this" {
  count = local.realtime ? 1 : 0

  name               = "${var.name}-invocations-per-instance"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this[0].service_namespace
  resource_id        = aws_appautoscaling_target.this[0].resource_id
  scalable_dimension = aws_appautoscaling_target.this[0].scalable_dimension

  target_tracking_scaling_policy_configuration {
    target_value       = var.realtime.target_invocations_per_instance
    scale_in_cooldown  = 300
    scale_out_cooldown = 60

    predefined_metric_specification {
      predefined_metric_type = "SageMakerVariantInvocationsPerInstance"
    }
  }
}
