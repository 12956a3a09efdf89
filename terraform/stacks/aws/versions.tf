terraform {
  # 1.9: input variable validations may refer to other variables;
  # 1.11.1: write-only arguments (the RDS password, modules/aws_grafana_db).
  required_version = ">= 1.11.1"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.88, < 6.0"
    }
  }
}
