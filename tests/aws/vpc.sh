#!/usr/bin/env bash
# The VPC network types against cairn sim: aws.vpc, aws.subnet,
# aws.internet_gateway, aws.route_table, aws.security_group. Create, plan
# again is empty, in-place updates of each (tags, DNS attribute, public IPs,
# gateway attachment, routes and associations, rules), replacements, drift
# made behind cairn's back, destroy leaves the sim empty.
. "$(dirname "$0")/lib.sh" "$@"
start_sim

write_stack() { # HOSTNAMES NAME PUBLIC SUB1CIDR EXTRA_ROUTE SUBNETS INGRESS_EXTRA VPC_CIDR
  awsstack s <<YAML
resources:
  net:
    type: aws.vpc
    cidr_block: $8
    enable_dns_hostnames: $1
    tags: { Name: $2, team: infra }
  sub:
    type: aws.subnet
    count: 2
    vpc_id: "\${net.id}"
    cidr_block: "\${count.index == 0 ? cidrsubnet(net.cidr_block, 8, 0) : cidrsubnet(net.cidr_block, 8, $4)}"
    availability_zone: us-east-1a
    map_public_ip_on_launch: "\${count.index == 0 ? $3 : false}"
    tags: { Name: "sub-\${count.index}" }
  gw:
    type: aws.internet_gateway
    vpc_id: "\${net.id}"
    tags: { Name: $2-gw }
  rt:
    type: aws.route_table
    vpc_id: "\${net.id}"
    routes:
      - { cidr_block: 0.0.0.0/0, gateway_id: "\${gw.id}" }
$5
    subnet_ids: $6
  web:
    type: aws.security_group
    name: web
    vpc_id: "\${net.id}"
    ingress:
      - { protocol: tcp, from_port: 443, to_port: 443, cidr_blocks: [0.0.0.0/0] }
      - { protocol: tcp, from_port: 22, to_port: 22, cidr_blocks: [10.0.0.0/8, 192.168.0.0/16] }
$7
    egress:
      - { protocol: "-1", from_port: 0, to_port: 0, cidr_blocks: [0.0.0.0/0] }
  db:
    type: aws.security_group
    name: db
    vpc_id: "\${net.id}"
    ingress:
      - { protocol: tcp, from_port: 5432, to_port: 5432, source_security_group_id: "\${web.id}" }
YAML
}
ALL_SUBNETS='"${sub[*].id}"'
write_stack true main false 1 "" "$ALL_SUBNETS" "" 10.0.0.0/16

run plan -C s -e dev --detailed-exitcode
expect_rc 2 "first plan has changes"
out_has "Plan: 7 to add, 0 to change, 0 to destroy." "seven objects"
run apply -C s -e dev --auto-approve
expect_rc 0 "apply creates the network"
out_has "Apply complete! Resources: 7 added" "apply summary"
# the VPC brings its main route table and default security group
eq "$(sim_count)" "9" "objects in the sim"
VPC=$(state_id s net)
eq "$(sim_resources | jq -r --arg v "$VPC" '.resources[] | select(.id == $v) | .attributes.enableDnsHostnames')" "true" "DNS hostnames on"
eq "$(sim_resources | jq -r --arg v "$VPC" '.resources[] | select(.id == $v) | .tags["cairn:address"]')" "net" "cairn:address tag"
run state show -e dev -C s net
out_has 'tags                      = {"Name" = "main", "team" = "infra"}' "cairn:* tags are not in the user's tags"
out_has "main_route_table_id" "main route table found"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "plan after apply is empty"

# in-place updates: VPC tag + DNS attribute, subnet public IPs, gateway tag,
# an extra route and one association less, an extra ingress rule (IPv4,
# IPv6 and a prefix list)
write_stack false primary true 1 "      - { cidr_block: 192.0.2.0/24, gateway_id: \"\${gw.id}\" }" '["${sub[0].id}"]' \
  "      - { protocol: tcp, from_port: 80, to_port: 80, cidr_blocks: [0.0.0.0/0], ipv6_cidr_blocks: [\"::/0\"], prefix_list_ids: [pl-63a5400a] }" 10.0.0.0/16
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "plan shows the updates"
out_has "# net will be updated in place" "vpc in place"
out_has "~ enable_dns_hostnames = true -> false" "dns attribute"
out_has "# sub[0] will be updated in place" "subnet in place"
out_has "~ map_public_ip_on_launch = false -> true" "public ip"
out_has "# gw will be updated in place" "gateway tags"
out_has "# rt will be updated in place" "routes"
out_has "# web will be updated in place" "rules"
out_lacks "sub[1]" "the other subnet is untouched"
out_lacks "# db" "the other group is untouched"
out_has "Plan: 0 to add, 5 to change, 0 to destroy." "exactly five updates"
run apply -C s -e dev --auto-approve
expect_rc 0 "apply the updates"
out_has "5 changed" "five changed"
eq "$(sim_resources | jq -r --arg v "$VPC" '.resources[] | select(.id == $v) | .attributes.enableDnsHostnames')" "false" "DNS hostnames off"
eq "$(sim_resources | jq -r --arg v "$VPC" '.resources[] | select(.id == $v) | .tags.Name')" "primary" "VPC tag changed"
RT=$(state_id s rt)
eq "$(sim_resources | jq -r --arg v "$RT" '.resources[] | select(.id == $v) | .attributes.routes | length')" "3" "local + two routes"
eq "$(sim_resources | jq -r --arg v "$RT" '.resources[] | select(.id == $v) | .attributes.associations | length')" "1" "one association"
WEB=$(state_id s web)
eq "$(sim_resources | jq -r --arg v "$WEB" '[.resources[] | select(.id == $v) | .attributes.rules[] | select(.egress == false)] | length')" "6" "six ingress rule atoms"
eq "$(sim_resources | jq -r --arg v "$WEB" '[.resources[] | select(.id == $v) | .attributes.rules[] | select(.cidr6 == "::/0" or .pl == "pl-63a5400a")] | length')" "2" "an IPv6 and a prefix list peer"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged after updates"

# back: remove the route and the rule, associate both subnets again
write_stack false primary true 1 "" "$ALL_SUBNETS" "" 10.0.0.0/16
run apply -C s -e dev --auto-approve
expect_rc 0 "apply removals"
eq "$(sim_resources | jq -r --arg v "$RT" '.resources[] | select(.id == $v) | .attributes.routes | length')" "2" "route removed"
eq "$(sim_resources | jq -r --arg v "$WEB" '[.resources[] | select(.id == $v) | .attributes.rules[] | select(.egress == false)] | length')" "3" "rule revoked (all its peers)"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged after removals"

# replacement: a subnet's CIDR
OLD_SUB1=$(state_id s 'sub[1]')
write_stack false primary true 7 "" "$ALL_SUBNETS" "" 10.0.0.0/16
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "cidr change"
out_has "# sub[1] must be replaced" "subnet replaced"
run apply -C s -e dev --auto-approve
expect_rc 0 "apply the replacement"
check "old subnet gone" test "$(sim_resources | jq --arg v "$OLD_SUB1" '[.resources[] | select(.id == $v)] | length')" = 0
eq "$(sim_resources | jq -r --arg v "$(state_id s 'sub[1]')" '.resources[] | select(.id == $v) | .attributes.cidrBlock')" "10.0.7.0/24" "new subnet"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged after replacement"

# drift: DNS support switched off, a tag changed, a rule revoked, a subnet deleted
sim_patch "$VPC" '{"attributes":{"enableDnsSupport":false}}'
sim_patch "$(state_id s gw)" '{"tags":{"Name":"hacked"}}'
ec2 RevokeSecurityGroupIngress GroupId="$WEB" IpPermissions.1.IpProtocol=tcp IpPermissions.1.FromPort=443 \
  IpPermissions.1.ToPort=443 IpPermissions.1.IpRanges.1.CidrIp=0.0.0.0/0 >/dev/null
ec2 AuthorizeSecurityGroupIngress GroupId="$WEB" IpPermissions.1.IpProtocol=tcp IpPermissions.1.FromPort=22 \
  IpPermissions.1.ToPort=22 IpPermissions.1.Ipv6Ranges.1.CidrIpv6=2001:db8::/32 >/dev/null
sim_delete "$(state_id s 'sub[0]')"
run plan -C s -e dev --detailed-exitcode
expect_rc 2 "drift detected"
out_has "~ enable_dns_support = false -> true" "dns drift"
out_has '"hacked"' "tag drift"
out_has "# web will be updated in place" "rule drift"
out_has "# sub[0] will be created" "deleted subnet comes back"
out_has '"2001:db8::/32"' "the IPv6 rule added out of band shows"
run apply -C s -e dev --auto-approve
expect_rc 0 "apply repairs drift"
eq "$(sim_resources | jq -r --arg v "$WEB" '[.resources[] | select(.id == $v) | .attributes.rules[] | select(.cidr6 != null)] | length')" "0" "IPv6 rule revoked"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged after drift repair"

# replacement of the VPC: everything that hangs off it follows
write_stack false primary true 7 "" "$ALL_SUBNETS" "" 10.1.0.0/16
run apply -C s -e dev --auto-approve
expect_rc 0 "replace the VPC"
err_has "net (old): destruction complete" "old VPC deleted"
run plan -C s -e dev --detailed-exitcode
expect_rc 0 "converged after VPC replacement"
eq "$(sim_resources | jq '[.resources[] | select(.type == "ec2:vpc")] | length')" "1" "one VPC"

run destroy -C s -e dev --auto-approve
expect_rc 0 "destroy"
eq "$(sim_count)" "0" "the sim is empty"
done_testing
