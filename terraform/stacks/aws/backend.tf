# obsctl passes the state location at init time:
#   terraform init -backend-config=path=.obsctl/<env>/terraform.tfstate
terraform {
  backend "local" {}
}
