# For running this stack with Terraform by hand (tests/aws/moto.sh does):
#   terraform init -backend-config=path=/some/terraform.tfstate
# obsctl does not use this file: it runs Terraform in its per-environment copy
# of terraform/ (.obsctl/<env>/stack/), where this file is replaced by a
# backend.tf.json generated from the environment's [state] (local or S3).
terraform {
  backend "local" {}
}
