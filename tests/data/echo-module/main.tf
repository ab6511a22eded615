# Test module: declares what templates/main.tf.j2 passes and hands every input back through the
# `public_instances` output, so a test can compare what Terraform received with the spec.
variable "config_git_url" {}
variable "config_version" {}
variable "cluster_name" {}
variable "domain" {}
variable "image" {}
variable "instances" {}
variable "volumes" {}
variable "public_keys" {}
variable "nb_users" {}
variable "guest_passwd" {}
variable "sudoer_username" {}
variable "hieradata" {}
variable "os_ext_network" { default = null }

output "cluster_name" { value = var.cluster_name }
output "domain" { value = var.domain }
output "public_ip" { value = {} }
output "accounts" { value = {} }
output "public_instances" {
  value = {
    cluster_name    = var.cluster_name
    domain          = var.domain
    image           = var.image
    instances       = var.instances
    volumes         = var.volumes
    public_keys     = var.public_keys
    nb_users        = var.nb_users
    sudoer_username = var.sudoer_username
    hieradata       = var.hieradata
    config_version  = var.config_version
  }
}
