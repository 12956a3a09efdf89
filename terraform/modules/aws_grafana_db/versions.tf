terraform {
  # 1.11.1: write-only arguments (password_wo); 1.11.0 could not plan them.
  required_version = ">= 1.11.1"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.88, < 6.0"
    }
  }
}
