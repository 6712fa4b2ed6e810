/*
 * ec2_net.c - the simulated EC2 service, part two: internet gateways,
 * route tables (routes and subnet associations) and security groups (with
 * their ingress and egress rules). Helpers shared with ec2.c are in ec2.h.
 */
#include "ec2.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- internet gateways ------------------------------------------------------ */

static const char *igw_vpc(const cairn_sim_resource *r)
{
	json_t *a = json_array_get(json_object_get(r->attrs, "attachments"), 0);

	return json_string_value(json_object_get(a, "vpcId"));
}

static int igw_render(cairn_sim_req *req, const cairn_sim_resource *r)
{
	cairn_sim_xml *x = &req->xml;
	const char *vpc = igw_vpc(r);

	cairn_sim_xml_elem(x, "internetGatewayId", r->id);
	cairn_sim_xml_elem(x, "ownerId", req->sim->opt.account_id);
	if (vpc) {
		cairn_sim_xml_open(x, "attachmentSet");
		cairn_sim_xml_open(x, "item");
		cairn_sim_xml_elem(x, "vpcId", vpc);
		cairn_sim_xml_elem(x, "state", "available");
		cairn_sim_xml_close(x, "item");
		cairn_sim_xml_close(x, "attachmentSet");
	} else {
		cairn_sim_xml_empty(x, "attachmentSet");
	}
	ec2_render_tags(req, r);
	return 0;
}

static int igw_filter(cairn_sim_req *req, const cairn_sim_resource *r, const char *name, ec2_vals *out)
{
	if (!strcmp(name, "internet-gateway-id"))
		return ec2_vals_add(out, r->id);
	if (!strcmp(name, "attachment.vpc-id"))
		return ec2_vals_add(out, igw_vpc(r));
	if (!strcmp(name, "attachment.state"))
		return igw_vpc(r) ? ec2_vals_add(out, "available") : 0;
	if (!strcmp(name, "owner-id"))
		return ec2_vals_add(out, req->sim->opt.account_id);
	return CAIRN_ENOTFOUND;
}

const ec2_kind ec2_kind_igw = {
	EC2_IGW, "igw", "internetGateway ID", "InvalidInternetGatewayID",
	"InvalidInternetGatewayId.Malformed", "internet-gateway",
	"InternetGatewayId", "internetGatewaySet", 5, 1000, igw_filter, igw_render,
};

static int igw_attach(cairn_sim_resource *r, const char *vpc_id)
{
	json_t *a = json_pack("[{s:s, s:s}]", "vpcId", vpc_id, "state", "available");

	if (!a)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	json_object_set_new(r->attrs, "attachments", a);
	return cairn_sim_resource_set_parent(r, vpc_id);
}

int ec2_create_igw_attached(cairn_sim_req *req, const char *vpc_id, char *id_out, size_t size)
{
	cairn_sim_resource *r = NULL;
	char id[48];
	int rc;

	cairn_sim_new_id(id, sizeof(id), "igw");
	if ((rc = cairn_sim_resource_new(&r, id, EC2_IGW, req->region)) == 0 &&
	    (rc = igw_attach(r, vpc_id)) == 0 && (rc = cairn_sim_store_put(req->sim->store, r)) == 0)
		snprintf(id_out, size, "%s", id);
	cairn_sim_resource_free(r);
	return rc;
}

int ec2_create_internet_gateway(cairn_sim_req *req)
{
	cairn_sim_resource *r = NULL;
	int rc;

	if ((rc = ec2_new(req, &ec2_kind_igw, &r)) != 0)
		return rc;
	json_object_set_new(r->attrs, "attachments", json_array());
	if ((rc = cairn_sim_store_put(req->sim->store, r)) == 0) {
		cairn_sim_xml_open(&req->xml, "internetGateway");
		igw_render(req, r);
		cairn_sim_xml_close(&req->xml, "internetGateway");
	}
	cairn_sim_resource_free(r);
	return rc;
}

int ec2_describe_internet_gateways(cairn_sim_req *req)
{
	return ec2_describe(req, &ec2_kind_igw, NULL);
}

int ec2_delete_internet_gateway(cairn_sim_req *req)
{
	cairn_sim_resource *r = NULL;
	const char *id;
	int rc;

	if ((rc = ec2_required(req, "InternetGatewayId", &id)) != 0 || (rc = ec2_load(req, &ec2_kind_igw, id, &r)) != 0)
		return rc;
	if (igw_vpc(r))
		rc = cairn_sim_fail(req, 400, "DependencyViolation",
			"The internetGateway '%s' has dependencies and cannot be deleted.", id);
	else if ((rc = cairn_sim_store_delete(req->sim->store, id)) == 0)
		ec2_return_true(req);
	cairn_sim_resource_free(r);
	return rc;
}

int ec2_attach_internet_gateway(cairn_sim_req *req)
{
	cairn_sim_resource *r = NULL, *vpc = NULL;
	cairn_sim_reslist others = { NULL, 0, 0 };
	const char *id, *vpc_id;
	int rc;

	if ((rc = ec2_required(req, "InternetGatewayId", &id)) != 0 || (rc = ec2_required(req, "VpcId", &vpc_id)) != 0 ||
	    (rc = ec2_load(req, &ec2_kind_igw, id, &r)) != 0)
		return rc;
	if ((rc = ec2_load(req, &ec2_kind_vpc, vpc_id, &vpc)) != 0)
		goto cleanup;
	if (igw_vpc(r)) {
		rc = cairn_sim_fail(req, 400, "Resource.AlreadyAssociated",
			"resource %s is already attached to network %s", id, igw_vpc(r));
		goto cleanup;
	}
	if ((rc = cairn_sim_store_list(req->sim->store, EC2_IGW, req->region, vpc_id, &others)) != 0)
		goto cleanup;
	if (others.n) {
		rc = cairn_sim_fail(req, 400, "Resource.AlreadyAssociated",
			"network %s already has an internet gateway attached", vpc_id);
		goto cleanup;
	}
	if ((rc = igw_attach(r, vpc_id)) != 0 || (rc = cairn_sim_store_put(req->sim->store, r)) != 0)
		goto cleanup;
	ec2_return_true(req);
cleanup:
	cairn_sim_reslist_release(&others);
	cairn_sim_resource_free(vpc);
	cairn_sim_resource_free(r);
	return rc;
}

int ec2_detach_internet_gateway(cairn_sim_req *req)
{
	cairn_sim_resource *r = NULL, *vpc = NULL;
	const char *id, *vpc_id;
	int rc;

	if ((rc = ec2_required(req, "InternetGatewayId", &id)) != 0 || (rc = ec2_required(req, "VpcId", &vpc_id)) != 0 ||
	    (rc = ec2_load(req, &ec2_kind_igw, id, &r)) != 0)
		return rc;
	if ((rc = ec2_load(req, &ec2_kind_vpc, vpc_id, &vpc)) != 0)
		goto cleanup;
	if (!igw_vpc(r) || strcmp(igw_vpc(r), vpc_id) != 0) {
		rc = cairn_sim_fail(req, 400, "Gateway.NotAttached", "resource %s is not attached to network %s", id, vpc_id);
		goto cleanup;
	}
	json_object_set_new(r->attrs, "attachments", json_array());
	if ((rc = cairn_sim_resource_set_parent(r, NULL)) != 0 || (rc = cairn_sim_store_put(req->sim->store, r)) != 0)
		goto cleanup;
	ec2_return_true(req);
cleanup:
	cairn_sim_resource_free(vpc);
	cairn_sim_resource_free(r);
	return rc;
}

/* ---- route tables ---------------------------------------------------------------- */

/* "active", or "blackhole" when the route's gateway is gone or detached. */
static const char *route_state(cairn_sim_req *req, const cairn_sim_resource *rtb, const char *gw)
{
	cairn_sim_resource *igw = NULL;
	const char *state = "active";

	if (!gw || strcmp(gw, "local") == 0)
		return state;
	if (cairn_sim_store_get(req->sim->store, gw, &igw) != 0)
		return "blackhole";
	if (!igw_vpc(igw) || !rtb->parent_id || strcmp(igw_vpc(igw), rtb->parent_id) != 0)
		state = "blackhole";
	cairn_sim_resource_free(igw);
	return state;
}

static int rtb_render(cairn_sim_req *req, const cairn_sim_resource *r)
{
	cairn_sim_xml *x = &req->xml;
	json_t *routes = json_object_get(r->attrs, "routes"), *assocs = json_object_get(r->attrs, "associations"), *e;
	size_t i;

	cairn_sim_xml_elem(x, "routeTableId", r->id);
	cairn_sim_xml_elem(x, "vpcId", r->parent_id);
	cairn_sim_xml_elem(x, "ownerId", req->sim->opt.account_id);
	cairn_sim_xml_open(x, "routeSet");
	json_array_foreach(routes, i, e) {
		const char *gw = json_string_value(json_object_get(e, "gatewayId"));

		cairn_sim_xml_open(x, "item");
		cairn_sim_xml_elem(x, "destinationCidrBlock", json_string_value(json_object_get(e, "destinationCidrBlock")));
		cairn_sim_xml_elem(x, "gatewayId", gw);
		cairn_sim_xml_elem(x, "state", route_state(req, r, gw));
		cairn_sim_xml_elem(x, "origin", json_string_value(json_object_get(e, "origin")));
		cairn_sim_xml_close(x, "item");
	}
	cairn_sim_xml_close(x, "routeSet");
	cairn_sim_xml_open(x, "associationSet");
	json_array_foreach(assocs, i, e) {
		cairn_sim_xml_open(x, "item");
		cairn_sim_xml_elem(x, "routeTableAssociationId", json_string_value(json_object_get(e, "id")));
		cairn_sim_xml_elem(x, "routeTableId", r->id);
		cairn_sim_xml_elem(x, "subnetId", json_string_value(json_object_get(e, "subnetId")));
		cairn_sim_xml_bool(x, "main", json_is_true(json_object_get(e, "main")));
		cairn_sim_xml_raw(x, "<associationState><state>associated</state></associationState>");
		cairn_sim_xml_close(x, "item");
	}
	cairn_sim_xml_close(x, "associationSet");
	cairn_sim_xml_empty(x, "propagatingVgwSet");
	ec2_render_tags(req, r);
	return 0;
}

static int rtb_filter(cairn_sim_req *req, const cairn_sim_resource *r, const char *name, ec2_vals *out)
{
	json_t *routes = json_object_get(r->attrs, "routes"), *assocs = json_object_get(r->attrs, "associations"), *e;
	const char *field = NULL;
	size_t i;
	int rc = 0;

	if (!strcmp(name, "route-table-id") || !strcmp(name, "association.route-table-id"))
		return !strcmp(name, "route-table-id") || json_array_size(assocs) ? ec2_vals_add(out, r->id) : 0;
	if (!strcmp(name, "vpc-id"))
		return ec2_vals_add(out, r->parent_id);
	if (!strcmp(name, "owner-id"))
		return ec2_vals_add(out, req->sim->opt.account_id);
	if (!strcmp(name, "association.main")) {
		int main_assoc = 0;

		json_array_foreach(assocs, i, e)
			main_assoc |= json_is_true(json_object_get(e, "main"));
		return ec2_vals_add(out, main_assoc ? "true" : "false");
	}
	if (!strcmp(name, "association.route-table-association-id"))
		field = "id";
	else if (!strcmp(name, "association.subnet-id"))
		field = "subnetId";
	if (field) {
		json_array_foreach(assocs, i, e)
			if ((rc = ec2_vals_add(out, json_string_value(json_object_get(e, field)))) != 0)
				return rc;
		return 0;
	}
	if (!strcmp(name, "route.destination-cidr-block"))
		field = "destinationCidrBlock";
	else if (!strcmp(name, "route.gateway-id"))
		field = "gatewayId";
	else if (!strcmp(name, "route.origin"))
		field = "origin";
	else if (strcmp(name, "route.state") != 0)
		return CAIRN_ENOTFOUND;
	json_array_foreach(routes, i, e) {
		const char *gw = json_string_value(json_object_get(e, "gatewayId"));

		rc = ec2_vals_add(out, field ? json_string_value(json_object_get(e, field)) : route_state(req, r, gw));
		if (rc)
			return rc;
	}
	return 0;
}

const ec2_kind ec2_kind_rtb = {
	EC2_RTB, "rtb", "routeTable ID", "InvalidRouteTableID", "InvalidRouteTableId.Malformed", "route-table", "RouteTableId", "routeTableSet",
	5, 100, rtb_filter, rtb_render,
};

static int make_route_table(cairn_sim_req *req, const cairn_sim_resource *vpc, int is_main, int tags,
	cairn_sim_resource **out)
{
	cairn_sim_resource *r = NULL;
	json_t *routes, *assocs;
	int rc;

	if (tags) {
		if ((rc = ec2_new(req, &ec2_kind_rtb, &r)) != 0)
			return rc;
	} else {
		char id[48];

		cairn_sim_new_id(id, sizeof(id), "rtb");
		if ((rc = cairn_sim_resource_new(&r, id, EC2_RTB, req->region)) != 0)
			return rc;
	}
	routes = json_pack("[{s:s, s:s, s:s}]", "destinationCidrBlock", ec2_str(vpc, "cidrBlock"),
		"gatewayId", "local", "origin", "CreateRouteTable");
	assocs = json_array();
	if (is_main) {
		char assoc[48];

		cairn_sim_new_id(assoc, sizeof(assoc), "rtbassoc");
		json_array_append_new(assocs, json_pack("{s:s, s:b}", "id", assoc, "main", 1));
	}
	json_object_set_new(r->attrs, "routes", routes);
	json_object_set_new(r->attrs, "associations", assocs);
	json_object_set_new(r->attrs, "main", json_boolean(is_main));
	if ((rc = cairn_sim_resource_set_parent(r, vpc->id)) != 0 || (rc = cairn_sim_store_put(req->sim->store, r)) != 0) {
		cairn_sim_resource_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

int ec2_create_main_route_table(cairn_sim_req *req, const cairn_sim_resource *vpc, char *id_out, size_t size)
{
	cairn_sim_resource *r = NULL;
	int rc = make_route_table(req, vpc, 1, 0, &r);

	if (rc == 0)
		snprintf(id_out, size, "%s", r->id);
	cairn_sim_resource_free(r);
	return rc;
}

int ec2_add_route(cairn_sim_req *req, const char *rtb_id, const char *dest, const char *igw_id)
{
	cairn_sim_resource *r = NULL;
	int rc;

	if ((rc = cairn_sim_store_get(req->sim->store, rtb_id, &r)) != 0)
		return rc == CAIRN_ENOTFOUND ? cairn_error_set(CAIRN_ENOTFOUND, "no route table %s", rtb_id) : rc;
	json_array_append_new(json_object_get(r->attrs, "routes"), json_pack("{s:s, s:s, s:s}",
		"destinationCidrBlock", dest, "gatewayId", igw_id, "origin", "CreateRoute"));
	rc = cairn_sim_store_put(req->sim->store, r);
	cairn_sim_resource_free(r);
	return rc;
}

int ec2_create_route_table(cairn_sim_req *req)
{
	cairn_sim_resource *vpc = NULL, *r = NULL;
	const char *vpc_id;
	int rc;

	if ((rc = ec2_required(req, "VpcId", &vpc_id)) != 0 || (rc = ec2_load(req, &ec2_kind_vpc, vpc_id, &vpc)) != 0)
		return rc;
	if ((rc = make_route_table(req, vpc, 0, 1, &r)) == 0) {
		cairn_sim_xml_open(&req->xml, "routeTable");
		rtb_render(req, r);
		cairn_sim_xml_close(&req->xml, "routeTable");
	}
	cairn_sim_resource_free(r);
	cairn_sim_resource_free(vpc);
	return rc;
}

int ec2_describe_route_tables(cairn_sim_req *req)
{
	return ec2_describe(req, &ec2_kind_rtb, NULL);
}

int ec2_delete_route_table(cairn_sim_req *req)
{
	cairn_sim_resource *r = NULL;
	const char *id;
	int rc;

	if ((rc = ec2_required(req, "RouteTableId", &id)) != 0 || (rc = ec2_load(req, &ec2_kind_rtb, id, &r)) != 0)
		return rc;
	if (json_array_size(json_object_get(r->attrs, "associations")) > 0)
		rc = cairn_sim_fail(req, 400, "DependencyViolation",
			"The routeTable '%s' has dependencies and cannot be deleted.", id);
	else if ((rc = cairn_sim_store_delete(req->sim->store, id)) == 0)
		ec2_return_true(req);
	cairn_sim_resource_free(r);
	return rc;
}

static ssize_t find_route(json_t *routes, const char *dest)
{
	json_t *e;
	size_t i;

	json_array_foreach(routes, i, e)
		if (strcmp(json_string_value(json_object_get(e, "destinationCidrBlock")), dest) == 0)
			return (ssize_t)i;
	return -1;
}

int ec2_create_route(cairn_sim_req *req)
{
	static const char *const unsupported[] = {
		"NatGatewayId", "TransitGatewayId", "VpcPeeringConnectionId", "NetworkInterfaceId",
		"InstanceId", "EgressOnlyInternetGatewayId", "LocalGatewayId", "CarrierGatewayId",
		"VpcEndpointId", "CoreNetworkArn",
	};
	cairn_sim_resource *r = NULL, *igw = NULL;
	const char *id, *dest, *gw = cairn_sim_form_get(req->form, "GatewayId");
	uint32_t net;
	int prefix, rc;
	size_t i;

	if ((rc = ec2_required(req, "RouteTableId", &id)) != 0)
		return rc;
	if (!(dest = cairn_sim_form_get(req->form, "DestinationCidrBlock"))) {
		if (cairn_sim_form_get(req->form, "DestinationIpv6CidrBlock") ||
		    cairn_sim_form_get(req->form, "DestinationPrefixListId"))
			return cairn_sim_fail(req, 400, "InvalidParameterValue",
				"IPv6 and prefix-list destinations are not supported by cairn sim");
		return cairn_sim_fail(req, 400, "MissingParameter",
			"The request must contain the parameter destinationCidrBlock");
	}
	if (ec2_parse_cidr(dest, &net, &prefix) != 0)
		return cairn_sim_fail(req, 400, "InvalidParameterValue",
			"Value (%s) for parameter destinationCidrBlock is invalid. This is not a valid CIDR block.", dest);
	for (i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++)
		if (cairn_sim_form_get(req->form, unsupported[i]))
			return cairn_sim_fail(req, 400, "InvalidParameterValue",
				"Route targets of type %s are not supported by cairn sim", unsupported[i]);
	if (!gw)
		return cairn_sim_fail(req, 400, "MissingParameter",
			"The request must contain exactly one route target, such as gatewayId");
	if ((rc = ec2_load(req, &ec2_kind_rtb, id, &r)) != 0)
		return rc;
	if (strncmp(gw, "igw-", 4) != 0) {
		rc = cairn_sim_fail(req, 400, "InvalidGatewayID.NotFound", "The gateway ID '%s' does not exist", gw);
		goto cleanup;
	}
	rc = cairn_sim_store_get(req->sim->store, gw, &igw);
	if (rc == CAIRN_ENOTFOUND || (rc == 0 && strcmp(igw->region, req->region) != 0)) {
		rc = cairn_sim_fail(req, 400, "InvalidGatewayID.NotFound", "The gateway ID '%s' does not exist", gw);
		goto cleanup;
	}
	if (rc)
		goto cleanup;
	if (!igw_vpc(igw) || strcmp(igw_vpc(igw), r->parent_id) != 0) {
		rc = cairn_sim_fail(req, 400, "InvalidParameterValue",
			"route table %s and network gateway %s belong to different networks", id, gw);
		goto cleanup;
	}
	if (find_route(json_object_get(r->attrs, "routes"), dest) >= 0) {
		rc = cairn_sim_fail(req, 400, "RouteAlreadyExists",
			"The route identified by %s already exists.", dest);
		goto cleanup;
	}
	json_array_append_new(json_object_get(r->attrs, "routes"), json_pack("{s:s, s:s, s:s}",
		"destinationCidrBlock", dest, "gatewayId", gw, "origin", "CreateRoute"));
	if ((rc = cairn_sim_store_put(req->sim->store, r)) != 0)
		goto cleanup;
	ec2_return_true(req);
cleanup:
	cairn_sim_resource_free(igw);
	cairn_sim_resource_free(r);
	return rc;
}

int ec2_delete_route(cairn_sim_req *req)
{
	cairn_sim_resource *r = NULL;
	const char *id, *dest;
	json_t *routes;
	ssize_t at;
	int rc;

	if ((rc = ec2_required(req, "RouteTableId", &id)) != 0 ||
	    (rc = ec2_required(req, "DestinationCidrBlock", &dest)) != 0 ||
	    (rc = ec2_load(req, &ec2_kind_rtb, id, &r)) != 0)
		return rc;
	routes = json_object_get(r->attrs, "routes");
	at = find_route(routes, dest);
	if (at < 0) {
		rc = cairn_sim_fail(req, 400, "InvalidRoute.NotFound",
			"no route with destination-cidr-block %s in route table %s", dest, id);
	} else if (strcmp(json_string_value(json_object_get(json_array_get(routes, (size_t)at), "gatewayId")), "local") == 0) {
		rc = cairn_sim_fail(req, 400, "InvalidParameterValue",
			"cannot remove local route %s in route table %s", dest, id);
	} else {
		json_array_remove(routes, (size_t)at);
		if ((rc = cairn_sim_store_put(req->sim->store, r)) == 0)
			ec2_return_true(req);
	}
	cairn_sim_resource_free(r);
	return rc;
}

int ec2_associate_route_table(cairn_sim_req *req)
{
	cairn_sim_resource *r = NULL, *sn = NULL;
	cairn_sim_reslist tables = { NULL, 0, 0 };
	const char *id, *subnet_id;
	char assoc[48];
	size_t i, j;
	json_t *e;
	int rc;

	if ((rc = ec2_required(req, "RouteTableId", &id)) != 0)
		return rc;
	if (!(subnet_id = cairn_sim_form_get(req->form, "SubnetId"))) {
		if (cairn_sim_form_get(req->form, "GatewayId"))
			return cairn_sim_fail(req, 400, "InvalidParameterValue",
				"gateway route table associations are not supported by cairn sim");
		return cairn_sim_fail(req, 400, "MissingParameter", "The request must contain the parameter SubnetId");
	}
	if ((rc = ec2_load(req, &ec2_kind_rtb, id, &r)) != 0)
		return rc;
	if ((rc = ec2_load(req, &ec2_kind_subnet, subnet_id, &sn)) != 0)
		goto cleanup;
	if (strcmp(sn->parent_id, r->parent_id) != 0) {
		rc = cairn_sim_fail(req, 400, "InvalidParameterValue",
			"Route table %s and subnet %s belong to different networks", id, subnet_id);
		goto cleanup;
	}
	if ((rc = cairn_sim_store_list(req->sim->store, EC2_RTB, req->region, r->parent_id, &tables)) != 0)
		goto cleanup;
	for (i = 0; i < tables.n; i++) {
		json_array_foreach(json_object_get(tables.v[i]->attrs, "associations"), j, e) {
			const char *s = json_string_value(json_object_get(e, "subnetId"));

			if (s && strcmp(s, subnet_id) == 0) {
				rc = cairn_sim_fail(req, 400, "Resource.AlreadyAssociated",
					"the specified association for route table %s conflicts with an existing association",
					id);
				goto cleanup;
			}
		}
	}
	cairn_sim_new_id(assoc, sizeof(assoc), "rtbassoc");
	json_array_append_new(json_object_get(r->attrs, "associations"),
		json_pack("{s:s, s:s, s:b}", "id", assoc, "subnetId", subnet_id, "main", 0));
	if ((rc = cairn_sim_store_put(req->sim->store, r)) != 0)
		goto cleanup;
	cairn_sim_xml_elem(&req->xml, "associationId", assoc);
	cairn_sim_xml_raw(&req->xml, "<associationState><state>associated</state></associationState>");
cleanup:
	cairn_sim_reslist_release(&tables);
	cairn_sim_resource_free(sn);
	cairn_sim_resource_free(r);
	return rc;
}

/* Remove the association matching (field == value) from every route table
 * in the region; *found says whether there was one, *was_main if it was the
 * main association (then nothing is removed). */
static int drop_association(cairn_sim_req *req, const char *field, const char *value, int *found, int *was_main)
{
	cairn_sim_reslist tables = { NULL, 0, 0 };
	size_t i, j;
	json_t *e;
	int rc;

	*found = *was_main = 0;
	if ((rc = cairn_sim_store_list(req->sim->store, EC2_RTB, req->region, NULL, &tables)) != 0)
		return rc;
	for (i = 0; i < tables.n && !rc; i++) {
		json_t *assocs = json_object_get(tables.v[i]->attrs, "associations");

		json_array_foreach(assocs, j, e) {
			const char *s = json_string_value(json_object_get(e, field));

			if (!s || strcmp(s, value) != 0)
				continue;
			*found = 1;
			if (json_is_true(json_object_get(e, "main"))) {
				*was_main = 1;
				break;
			}
			json_array_remove(assocs, j);
			rc = cairn_sim_store_put(req->sim->store, tables.v[i]);
			break;
		}
	}
	cairn_sim_reslist_release(&tables);
	return rc;
}

int ec2_drop_subnet_associations(cairn_sim_req *req, const char *subnet_id)
{
	int found, was_main;

	return drop_association(req, "subnetId", subnet_id, &found, &was_main);
}

int ec2_disassociate_route_table(cairn_sim_req *req)
{
	const char *assoc;
	int rc, found = 0, was_main = 0;

	if ((rc = ec2_required(req, "AssociationId", &assoc)) != 0 ||
	    (rc = drop_association(req, "id", assoc, &found, &was_main)) != 0)
		return rc;
	if (!found)
		return cairn_sim_fail(req, 400, "InvalidAssociationID.NotFound",
			"The association ID '%s' does not exist", assoc);
	if (was_main)
		return cairn_sim_fail(req, 400, "InvalidParameterValue",
			"cannot disassociate the main route table association %s", assoc);
	ec2_return_true(req);
	return 0;
}

/* ---- security groups -------------------------------------------------------------- */

static void render_rule_set(cairn_sim_req *req, const cairn_sim_resource *r, int egress)
{
	cairn_sim_xml *x = &req->xml;
	json_t *rules = json_object_get(r->attrs, "rules"), *e, *f;
	size_t i, j;
	int any = 0;

	cairn_sim_xml_open(x, egress ? "ipPermissionsEgress" : "ipPermissions");
	/* AWS groups the rules by protocol and port range */
	json_array_foreach(rules, i, e) {
		const char *proto = json_string_value(json_object_get(e, "proto"));
		json_int_t from = json_integer_value(json_object_get(e, "from"));
		json_int_t to = json_integer_value(json_object_get(e, "to"));
		int first = 1, kind;

		if (json_is_true(json_object_get(e, "egress")) != egress)
			continue;
		/* skip if an earlier rule opened this group */
		for (j = 0; j < i; j++) {
			f = json_array_get(rules, j);
			if (json_is_true(json_object_get(f, "egress")) == egress &&
			    strcmp(json_string_value(json_object_get(f, "proto")), proto) == 0 &&
			    json_integer_value(json_object_get(f, "from")) == from &&
			    json_integer_value(json_object_get(f, "to")) == to)
				first = 0;
		}
		if (!first)
			continue;
		any = 1;
		cairn_sim_xml_open(x, "item");
		cairn_sim_xml_elem(x, "ipProtocol", proto);
		if (strcmp(proto, "-1") != 0) {
			cairn_sim_xml_elemf(x, "fromPort", "%lld", (long long)from);
			cairn_sim_xml_elemf(x, "toPort", "%lld", (long long)to);
		}
		for (kind = 0; kind < 4; kind++) {
			static const char *const sets[] = { "groups", "ipRanges", "ipv6Ranges", "prefixListIds" };
			static const char *const keys[] = { "group", "cidr", "cidr6", "pl" };
			static const char *const elems[] = { "groupId", "cidrIp", "cidrIpv6", "prefixListId" };
			int opened = 0;

			json_array_foreach(rules, j, f) {
				const char *peer = json_string_value(json_object_get(f, keys[kind]));
				const char *desc = json_string_value(json_object_get(f, "description"));

				if (!peer || json_is_true(json_object_get(f, "egress")) != egress ||
				    strcmp(json_string_value(json_object_get(f, "proto")), proto) != 0 ||
				    json_integer_value(json_object_get(f, "from")) != from ||
				    json_integer_value(json_object_get(f, "to")) != to)
					continue;
				if (!opened++)
					cairn_sim_xml_open(x, sets[kind]);
				cairn_sim_xml_open(x, "item");
				if (kind == 0)
					cairn_sim_xml_elem(x, "userId", req->sim->opt.account_id);
				cairn_sim_xml_elem(x, elems[kind], peer);
				cairn_sim_xml_elem(x, "description", desc);
				cairn_sim_xml_close(x, "item");
			}
			if (opened)
				cairn_sim_xml_close(x, sets[kind]);
			else
				cairn_sim_xml_empty(x, sets[kind]);
		}
		cairn_sim_xml_close(x, "item");
	}
	(void)any;
	cairn_sim_xml_close(x, egress ? "ipPermissionsEgress" : "ipPermissions");
}

static int sg_render(cairn_sim_req *req, const cairn_sim_resource *r)
{
	cairn_sim_xml *x = &req->xml;

	cairn_sim_xml_elem(x, "ownerId", req->sim->opt.account_id);
	cairn_sim_xml_elem(x, "groupId", r->id);
	cairn_sim_xml_elem(x, "groupName", ec2_str(r, "groupName"));
	cairn_sim_xml_elem(x, "groupDescription", ec2_str(r, "description"));
	cairn_sim_xml_elem(x, "vpcId", r->parent_id);
	render_rule_set(req, r, 0);
	render_rule_set(req, r, 1);
	cairn_sim_xml_elemf(x, "securityGroupArn", "arn:aws:ec2:%s:%s:security-group/%s", r->region,
		req->sim->opt.account_id, r->id);
	ec2_render_tags(req, r);
	return 0;
}

static int sg_filter(cairn_sim_req *req, const cairn_sim_resource *r, const char *name, ec2_vals *out)
{
	json_t *e;
	size_t i;
	int rc = 0, egress = 0;
	const char *sub;

	if (!strcmp(name, "group-id"))
		return ec2_vals_add(out, r->id);
	if (!strcmp(name, "group-name"))
		return ec2_vals_add(out, ec2_str(r, "groupName"));
	if (!strcmp(name, "description"))
		return ec2_vals_add(out, ec2_str(r, "description"));
	if (!strcmp(name, "vpc-id"))
		return ec2_vals_add(out, r->parent_id);
	if (!strcmp(name, "owner-id"))
		return ec2_vals_add(out, req->sim->opt.account_id);
	if (strncmp(name, "egress.ip-permission.", 21) == 0) {
		egress = 1;
		sub = name + 21;
	} else if (strncmp(name, "ip-permission.", 14) == 0) {
		sub = name + 14;
	} else {
		return CAIRN_ENOTFOUND;
	}
	if (strcmp(sub, "cidr") && strcmp(sub, "ipv6-cidr") && strcmp(sub, "from-port") && strcmp(sub, "to-port") &&
	    strcmp(sub, "protocol") && strcmp(sub, "group-id"))
		return CAIRN_ENOTFOUND;
	json_array_foreach(json_object_get(r->attrs, "rules"), i, e) {
		if (json_is_true(json_object_get(e, "egress")) != egress)
			continue;
		if (!strcmp(sub, "cidr"))
			rc = ec2_vals_add(out, json_string_value(json_object_get(e, "cidr")));
		else if (!strcmp(sub, "ipv6-cidr"))
			rc = ec2_vals_add(out, json_string_value(json_object_get(e, "cidr6")));
		else if (!strcmp(sub, "group-id"))
			rc = ec2_vals_add(out, json_string_value(json_object_get(e, "group")));
		else if (!strcmp(sub, "protocol"))
			rc = ec2_vals_add(out, json_string_value(json_object_get(e, "proto")));
		else
			rc = ec2_vals_addf(out, "%lld", (long long)json_integer_value(json_object_get(e,
				!strcmp(sub, "from-port") ? "from" : "to")));
		if (rc)
			return rc;
	}
	return 0;
}

const ec2_kind ec2_kind_sg = {
	EC2_SG, "sg", "security group", "InvalidGroup", "InvalidGroupId.Malformed", "security-group", "GroupId", "securityGroupInfo",
	5, 1000, sg_filter, sg_render,
};

static int add_rule(json_t *rules, int egress, const char *proto, long from, long to,
	const char *peer_key, const char *peer, const char *desc, char *id_out, size_t size)
{
	json_t *rule;

	cairn_sim_new_id(id_out, size, "sgr");
	rule = json_pack("{s:s, s:b, s:s, s:I, s:I, s:s}", "id", id_out, "egress", egress, "proto", proto,
		"from", (json_int_t)from, "to", (json_int_t)to, peer_key, peer);
	if (!rule)
		return cairn_error_set(CAIRN_ENOMEM, "out of memory");
	if (desc)
		json_object_set_new(rule, "description", json_string(desc));
	return json_array_append_new(rules, rule) ? cairn_error_set(CAIRN_ENOMEM, "out of memory") : 0;
}

int ec2_create_default_sg(cairn_sim_req *req, const cairn_sim_resource *vpc, char *id_out, size_t size)
{
	cairn_sim_resource *r = NULL;
	char id[48], rid[48];
	json_t *rules = json_array();
	int rc;

	cairn_sim_new_id(id, sizeof(id), "sg");
	if ((rc = cairn_sim_resource_new(&r, id, EC2_SG, req->region)) != 0) {
		json_decref(rules);
		return rc;
	}
	json_object_set_new(r->attrs, "groupName", json_string("default"));
	json_object_set_new(r->attrs, "description", json_string("default VPC security group"));
	json_object_set_new(r->attrs, "isDefault", json_true());
	json_object_set_new(r->attrs, "rules", rules);
	if ((rc = add_rule(rules, 0, "-1", -1, -1, "group", id, NULL, rid, sizeof(rid))) == 0 &&
	    (rc = add_rule(rules, 1, "-1", -1, -1, "cidr", "0.0.0.0/0", NULL, rid, sizeof(rid))) == 0 &&
	    (rc = cairn_sim_resource_set_parent(r, vpc->id)) == 0 &&
	    (rc = cairn_sim_store_put(req->sim->store, r)) == 0)
		snprintf(id_out, size, "%s", id);
	cairn_sim_resource_free(r);
	return rc;
}

/* The default VPC of the region, or NULL (*out untouched). */
static int default_vpc(cairn_sim_req *req, cairn_sim_resource **out)
{
	cairn_sim_reslist l = { NULL, 0, 0 };
	size_t i;
	int rc;

	if ((rc = cairn_sim_store_list(req->sim->store, EC2_VPC, req->region, NULL, &l)) != 0)
		return rc;
	for (i = 0; i < l.n; i++) {
		if (ec2_bool_attr(l.v[i], "isDefault")) {
			*out = l.v[i];
			l.v[i] = NULL;
			break;
		}
	}
	cairn_sim_reslist_release(&l);
	return 0;
}

/* The security group named `name` in vpc_id, or NULL. */
static int sg_by_name(cairn_sim_req *req, const char *vpc_id, const char *name, cairn_sim_resource **out)
{
	cairn_sim_reslist l = { NULL, 0, 0 };
	size_t i;
	int rc;

	*out = NULL;
	if ((rc = cairn_sim_store_list(req->sim->store, EC2_SG, req->region, vpc_id, &l)) != 0)
		return rc;
	for (i = 0; i < l.n; i++) {
		const char *n = ec2_str(l.v[i], "groupName");

		if (n && strcmp(n, name) == 0) {
			*out = l.v[i];
			l.v[i] = NULL;
			break;
		}
	}
	cairn_sim_reslist_release(&l);
	return 0;
}

int ec2_create_security_group(cairn_sim_req *req)
{
	cairn_sim_resource *vpc = NULL, *dup = NULL, *r = NULL;
	const char *name, *desc, *vpc_id = cairn_sim_form_get(req->form, "VpcId");
	char rid[48];
	json_t *rules;
	int rc;

	if ((rc = ec2_required(req, "GroupName", &name)) != 0 || (rc = ec2_required(req, "GroupDescription", &desc)) != 0)
		return rc;
	if (strlen(name) > 255 || strlen(desc) > 255)
		return cairn_sim_fail(req, 400, "InvalidParameterValue",
			"Group name and description must be at most 255 characters");
	if (strcasecmp(name, "default") == 0)
		return cairn_sim_fail(req, 400, "InvalidParameterValue",
			"Cannot use reserved security group name: %s", name);
	if (strncasecmp(name, "sg-", 3) == 0)
		return cairn_sim_fail(req, 400, "InvalidParameterValue",
			"Group names may not be in the format sg-*.");
	if (vpc_id)
		rc = ec2_load(req, &ec2_kind_vpc, vpc_id, &vpc);
	else if ((rc = default_vpc(req, &vpc)) == 0 && !vpc)
		rc = cairn_sim_fail(req, 400, "VPCIdNotSpecified", "No default VPC for this user");
	if (rc)
		return rc;
	if ((rc = sg_by_name(req, vpc->id, name, &dup)) != 0)
		goto cleanup;
	if (dup) {
		rc = cairn_sim_fail(req, 400, "InvalidGroup.Duplicate",
			"The security group '%s' already exists for VPC '%s'", name, vpc->id);
		goto cleanup;
	}
	if ((rc = ec2_new(req, &ec2_kind_sg, &r)) != 0)
		goto cleanup;
	rules = json_array();
	json_object_set_new(r->attrs, "groupName", json_string(name));
	json_object_set_new(r->attrs, "description", json_string(desc));
	json_object_set_new(r->attrs, "rules", rules);
	if ((rc = add_rule(rules, 1, "-1", -1, -1, "cidr", "0.0.0.0/0", NULL, rid, sizeof(rid))) != 0 ||
	    (rc = cairn_sim_resource_set_parent(r, vpc->id)) != 0 ||
	    (rc = cairn_sim_store_put(req->sim->store, r)) != 0)
		goto cleanup;
	ec2_return_true(req);
	cairn_sim_xml_elem(&req->xml, "groupId", r->id);
	cairn_sim_xml_elemf(&req->xml, "securityGroupArn", "arn:aws:ec2:%s:%s:security-group/%s",
		r->region, req->sim->opt.account_id, r->id);
	if (json_object_size(r->tags))
		ec2_render_tags(req, r);
cleanup:
	cairn_sim_resource_free(r);
	cairn_sim_resource_free(dup);
	cairn_sim_resource_free(vpc);
	return rc;
}

static int sg_names_extra(cairn_sim_req *req, const cairn_sim_resource *r)
{
	cairn_sim_strs names = { NULL, 0, 0 };
	int keep;

	if (cairn_sim_form_list(req->form, "GroupName", &names) != 0 || names.n == 0) {
		cairn_sim_strs_release(&names);
		return 1;
	}
	keep = cairn_sim_strs_has(&names, ec2_str(r, "groupName"));
	cairn_sim_strs_release(&names);
	return keep;
}

int ec2_describe_security_groups(cairn_sim_req *req)
{
	cairn_sim_strs names = { NULL, 0, 0 };
	cairn_sim_resource *vpc = NULL, *sg = NULL;
	size_t i;
	int rc;

	/* GroupName.N names groups of the default VPC */
	if ((rc = cairn_sim_form_list(req->form, "GroupName", &names)) != 0)
		return cairn_sim_fail(req, 400, "InvalidParameterValue", "Invalid parameter %s", cairn_error_last()->message);
	if (names.n && (rc = default_vpc(req, &vpc)) == 0) {
		for (i = 0; i < names.n && !rc; i++) {
			if (vpc && (rc = sg_by_name(req, vpc->id, names.v[i], &sg)) != 0)
				break;
			if (!sg)
				rc = cairn_sim_fail(req, 400, "InvalidGroup.NotFound",
					"The security group '%s' does not exist%s%s%s", names.v[i],
					vpc ? " in default VPC '" : "", vpc ? vpc->id : "", vpc ? "'" : "");
			cairn_sim_resource_free(sg);
			sg = NULL;
		}
	}
	cairn_sim_resource_free(vpc);
	cairn_sim_strs_release(&names);
	if (rc)
		return rc;
	return ec2_describe(req, &ec2_kind_sg, sg_names_extra);
}

/* Find the group of a request: GroupId, or GroupName in the default VPC. */
static int load_group(cairn_sim_req *req, cairn_sim_resource **out)
{
	const char *id = cairn_sim_form_get(req->form, "GroupId");
	const char *name = cairn_sim_form_get(req->form, "GroupName");
	cairn_sim_resource *vpc = NULL;
	int rc;

	if (id)
		return ec2_load(req, &ec2_kind_sg, id, out);
	if (!name)
		return cairn_sim_fail(req, 400, "MissingParameter", "The request must contain the parameter groupId");
	if ((rc = default_vpc(req, &vpc)) != 0)
		return rc;
	if (!vpc)
		return cairn_sim_fail(req, 400, "VPCIdNotSpecified", "No default VPC for this user");
	rc = sg_by_name(req, vpc->id, name, out);
	if (!rc && !*out)
		rc = cairn_sim_fail(req, 400, "InvalidGroup.NotFound",
			"The security group '%s' does not exist in default VPC '%s'", name, vpc->id);
	cairn_sim_resource_free(vpc);
	return rc;
}

int ec2_delete_security_group(cairn_sim_req *req)
{
	cairn_sim_resource *r = NULL;
	cairn_sim_reslist all = { NULL, 0, 0 };
	int64_t kids = 0;
	size_t i, j;
	json_t *e;
	int rc;

	if ((rc = load_group(req, &r)) != 0)
		return rc;
	if (ec2_bool_attr(r, "isDefault")) {
		rc = cairn_sim_fail(req, 400, "CannotDelete",
			"the specified group: \"%s\" name: \"default\" cannot be deleted by a user", r->id);
		goto cleanup;
	}
	/* other services' users of the group (RDS, ElastiCache) are its children */
	if ((rc = cairn_sim_store_count_children(req->sim->store, r->id, NULL, &kids)) != 0)
		goto cleanup;
	if (kids) {
		rc = cairn_sim_fail(req, 400, "DependencyViolation", "resource %s has a dependent object", r->id);
		goto cleanup;
	}
	if ((rc = cairn_sim_store_list(req->sim->store, EC2_SG, req->region, NULL, &all)) != 0)
		goto cleanup;
	for (i = 0; i < all.n; i++) {
		if (strcmp(all.v[i]->id, r->id) == 0)
			continue;
		json_array_foreach(json_object_get(all.v[i]->attrs, "rules"), j, e) {
			const char *g = json_string_value(json_object_get(e, "group"));

			if (g && strcmp(g, r->id) == 0) {
				rc = cairn_sim_fail(req, 400, "DependencyViolation",
					"resource %s has a dependent object", r->id);
				goto cleanup;
			}
		}
	}
	if ((rc = cairn_sim_store_delete(req->sim->store, r->id)) != 0)
		goto cleanup;
	ec2_return_true(req);
cleanup:
	cairn_sim_reslist_release(&all);
	cairn_sim_resource_free(r);
	return rc;
}

/* ---- rules -------------------------------------------------------------------------- */

typedef struct rule_spec {
	char proto[8];
	long from, to;
	const char *peer_key; /* "cidr", "cidr6", "pl" (prefix list), "group" */
	const char *peer;
	const char *desc;
} rule_spec;

typedef struct rule_specs {
	rule_spec *v;
	size_t n, alloc;
} rule_specs;

static int specs_add(rule_specs *s, const rule_spec *r)
{
	if (s->n == s->alloc) {
		size_t alloc = s->alloc ? s->alloc * 2 : 8;
		rule_spec *nv = realloc(s->v, alloc * sizeof(*nv));

		if (!nv)
			return cairn_error_set(CAIRN_ENOMEM, "out of memory");
		s->v = nv;
		s->alloc = alloc;
	}
	s->v[s->n++] = *r;
	return 0;
}

static int parse_port(const char *v, long *out)
{
	char *end;
	long long n;

	errno = 0;
	n = strtoll(v, &end, 10);
	if (end == v || *end || errno || n < -1 || n > 65535)
		return -1;
	*out = (long)n;
	return 0;
}

/* Normalise protocol and ports of one permission into base. */
static int parse_proto_ports(cairn_sim_req *req, const char *proto, const char *from, const char *to, rule_spec *base)
{
	long n;

	if (!proto || !*proto)
		return cairn_sim_fail(req, 400, "MissingParameter", "The request must contain the parameter ipProtocol");
	if (!strcasecmp(proto, "tcp") || !strcmp(proto, "6"))
		proto = "tcp";
	else if (!strcasecmp(proto, "udp") || !strcmp(proto, "17"))
		proto = "udp";
	else if (!strcasecmp(proto, "icmp") || !strcmp(proto, "1"))
		proto = "icmp";
	else if (!strcmp(proto, "-1") || !strcasecmp(proto, "all"))
		proto = "-1";
	else if (parse_port(proto, &n) != 0 || n < 0 || n > 255)
		return cairn_sim_fail(req, 400, "InvalidParameterValue",
			"Invalid value '%s' for IP protocol. Unknown protocol.", proto);
	snprintf(base->proto, sizeof(base->proto), "%s", proto);
	base->from = base->to = -1;
	if (strcmp(base->proto, "-1") == 0)
		return 0;
	if (!strcmp(base->proto, "tcp") || !strcmp(base->proto, "udp")) {
		if (!from || !to || parse_port(from, &base->from) != 0 || parse_port(to, &base->to) != 0 ||
		    base->from < 0 || base->to < 0 || base->from > base->to)
			return cairn_sim_fail(req, 400, "InvalidParameterValue",
				"Invalid value for portRange. Must specify both from and to ports with TCP/UDP.");
		return 0;
	}
	if (from && parse_port(from, &base->from) != 0)
		return cairn_sim_fail(req, 400, "InvalidParameterValue", "Invalid value '%s' for fromPort.", from);
	if (to && parse_port(to, &base->to) != 0)
		return cairn_sim_fail(req, 400, "InvalidParameterValue", "Invalid value '%s' for toPort.", to);
	return 0;
}

/* One list of peers (IpRanges.M.CidrIp ...) of permission prefix. */
static int parse_peers(cairn_sim_req *req, const char *prefix, const char *list, const char *field,
	const char *key, const rule_spec *base, rule_specs *out)
{
	char lp[128];
	long *idx = NULL;
	size_t n = 0, i;
	int rc;

	snprintf(lp, sizeof(lp), "%s.%s", prefix, list);
	if ((rc = cairn_sim_form_indices(req->form, lp, &idx, &n)) != 0)
		return cairn_sim_fail(req, 400, "InvalidParameterValue", "Invalid parameter %s", cairn_error_last()->message);
	for (i = 0; i < n && !rc; i++) {
		rule_spec r = *base;
		uint32_t net;
		int pfx;

		r.peer_key = key;
		r.peer = cairn_sim_form_getf(req->form, "%s.%ld.%s", lp, idx[i], field);
		r.desc = cairn_sim_form_getf(req->form, "%s.%ld.Description", lp, idx[i]);
		if (!r.peer) {
			rc = cairn_sim_fail(req, 400, "MissingParameter", "The request must contain the parameter %s.%ld.%s",
				lp, idx[i], field);
		} else if (!strcmp(key, "cidr") && ec2_parse_cidr(r.peer, &net, &pfx) != 0) {
			rc = cairn_sim_fail(req, 400, "InvalidParameterValue",
				"CIDR block %s is malformed", r.peer);
		} else if (!strcmp(key, "pl") && strncmp(r.peer, "pl-", 3) != 0) {
			rc = cairn_sim_fail(req, 400, "InvalidPrefixListId.Malformed",
				"The prefix list ID '%s' is malformed", r.peer);
		} else {
			rc = specs_add(out, &r);
		}
	}
	free(idx);
	return rc;
}

/* IpPermissions.N.* (and the old top-level CidrIp / IpProtocol form). */
static int parse_permissions(cairn_sim_req *req, int egress, rule_specs *out)
{
	long *idx = NULL;
	size_t n = 0, i, before;
	int rc;

	if ((rc = cairn_sim_form_indices(req->form, "IpPermissions", &idx, &n)) != 0)
		return cairn_sim_fail(req, 400, "InvalidParameterValue", "Invalid parameter %s", cairn_error_last()->message);
	for (i = 0; i < n && !rc; i++) {
		char prefix[64];
		rule_spec base;

		memset(&base, 0, sizeof(base));
		snprintf(prefix, sizeof(prefix), "IpPermissions.%ld", idx[i]);
		if ((rc = parse_proto_ports(req, cairn_sim_form_getf(req->form, "%s.IpProtocol", prefix),
				cairn_sim_form_getf(req->form, "%s.FromPort", prefix),
				cairn_sim_form_getf(req->form, "%s.ToPort", prefix), &base)) != 0)
			break;
		before = out->n;
		if ((rc = parse_peers(req, prefix, "IpRanges", "CidrIp", "cidr", &base, out)) != 0 ||
		    (rc = parse_peers(req, prefix, "Ipv6Ranges", "CidrIpv6", "cidr6", &base, out)) != 0 ||
		    (rc = parse_peers(req, prefix, "PrefixListIds", "PrefixListId", "pl", &base, out)) != 0 ||
		    (rc = parse_peers(req, prefix, "Groups", "GroupId", "group", &base, out)) != 0 ||
		    (rc = parse_peers(req, prefix, "UserIdGroupPairs", "GroupId", "group", &base, out)) != 0)
			break;
		if (out->n == before)
			rc = cairn_sim_fail(req, 400, "MissingParameter",
				"%s must name a peer: IpRanges, Ipv6Ranges, PrefixListIds or Groups", prefix);
	}
	free(idx);
	if (!rc && n == 0 && !egress && cairn_sim_form_get(req->form, "CidrIp")) {
		rule_spec base;
		uint32_t net;
		int pfx;

		memset(&base, 0, sizeof(base));
		if ((rc = parse_proto_ports(req, cairn_sim_form_get(req->form, "IpProtocol"),
				cairn_sim_form_get(req->form, "FromPort"), cairn_sim_form_get(req->form, "ToPort"),
				&base)) != 0)
			return rc;
		base.peer_key = "cidr";
		base.peer = cairn_sim_form_get(req->form, "CidrIp");
		if (ec2_parse_cidr(base.peer, &net, &pfx) != 0)
			return cairn_sim_fail(req, 400, "InvalidParameterValue", "CIDR block %s is malformed", base.peer);
		return specs_add(out, &base);
	}
	if (!rc && out->n == 0)
		rc = cairn_sim_fail(req, 400, "MissingParameter", "The request must contain the parameter ipPermissions");
	return rc;
}

static ssize_t find_rule(json_t *rules, int egress, const rule_spec *s)
{
	json_t *e;
	size_t i;

	json_array_foreach(rules, i, e) {
		const char *peer = json_string_value(json_object_get(e, s->peer_key));

		if (json_is_true(json_object_get(e, "egress")) == egress &&
		    strcmp(json_string_value(json_object_get(e, "proto")), s->proto) == 0 &&
		    json_integer_value(json_object_get(e, "from")) == s->from &&
		    json_integer_value(json_object_get(e, "to")) == s->to && peer && strcmp(peer, s->peer) == 0)
			return (ssize_t)i;
	}
	return -1;
}

static void render_new_rule(cairn_sim_req *req, const cairn_sim_resource *sg, const char *id, int egress,
	const rule_spec *s)
{
	cairn_sim_xml *x = &req->xml;

	cairn_sim_xml_open(x, "item");
	cairn_sim_xml_elem(x, "securityGroupRuleId", id);
	cairn_sim_xml_elem(x, "groupId", sg->id);
	cairn_sim_xml_elem(x, "groupOwnerId", req->sim->opt.account_id);
	cairn_sim_xml_bool(x, "isEgress", egress);
	cairn_sim_xml_elem(x, "ipProtocol", s->proto);
	cairn_sim_xml_elemf(x, "fromPort", "%ld", s->from);
	cairn_sim_xml_elemf(x, "toPort", "%ld", s->to);
	if (!strcmp(s->peer_key, "cidr"))
		cairn_sim_xml_elem(x, "cidrIpv4", s->peer);
	else if (!strcmp(s->peer_key, "cidr6"))
		cairn_sim_xml_elem(x, "cidrIpv6", s->peer);
	else if (!strcmp(s->peer_key, "pl"))
		cairn_sim_xml_elem(x, "prefixListId", s->peer);
	else {
		cairn_sim_xml_open(x, "referencedGroupInfo");
		cairn_sim_xml_elem(x, "groupId", s->peer);
		cairn_sim_xml_elem(x, "userId", req->sim->opt.account_id);
		cairn_sim_xml_close(x, "referencedGroupInfo");
	}
	cairn_sim_xml_elem(x, "description", s->desc);
	cairn_sim_xml_close(x, "item");
}

/* Revoke by SecurityGroupRuleId.N; *done = 0 when the request names none. */
static int revoke_by_ids(cairn_sim_req *req, cairn_sim_resource *r, int egress, int *done)
{
	cairn_sim_strs ids = { NULL, 0, 0 };
	json_t *rules = json_object_get(r->attrs, "rules"), *e;
	size_t i, j;
	int rc;

	*done = 0;
	if ((rc = cairn_sim_form_list(req->form, "SecurityGroupRuleId", &ids)) != 0) {
		rc = cairn_sim_fail(req, 400, "InvalidParameterValue", "Invalid parameter %s", cairn_error_last()->message);
		goto cleanup;
	}
	if (ids.n == 0)
		goto cleanup;
	*done = 1;
	for (i = 0; i < ids.n; i++) {
		int found = 0;

		json_array_foreach(rules, j, e) {
			if (strcmp(json_string_value(json_object_get(e, "id")), ids.v[i]) == 0 &&
			    json_is_true(json_object_get(e, "egress")) == egress) {
				json_array_remove(rules, j);
				found = 1;
				break;
			}
		}
		if (!found) {
			rc = cairn_sim_fail(req, 400, "InvalidSecurityGroupRuleId.NotFound",
				"The security group rule ID '%s' does not exist", ids.v[i]);
			goto cleanup;
		}
	}
	if ((rc = cairn_sim_store_put(req->sim->store, r)) == 0)
		ec2_return_true(req);
cleanup:
	cairn_sim_strs_release(&ids);
	return rc;
}

static int change_rules(cairn_sim_req *req, int egress, int add)
{
	cairn_sim_resource *r = NULL, *peer = NULL;
	rule_specs specs = { NULL, 0, 0 };
	json_t *rules;
	char rid[48];
	size_t i;
	int rc;

	if (egress && !cairn_sim_form_get(req->form, "GroupId"))
		return cairn_sim_fail(req, 400, "MissingParameter", "The request must contain the parameter groupId");
	if ((rc = load_group(req, &r)) != 0)
		return rc;
	if (!add) {
		int done = 0;

		if ((rc = revoke_by_ids(req, r, egress, &done)) != 0 || done)
			goto cleanup;
	}
	if ((rc = parse_permissions(req, egress, &specs)) != 0)
		goto cleanup;
	rules = json_object_get(r->attrs, "rules");
	if (add)
		cairn_sim_xml_elem(&req->xml, "return", "true");
	if (add)
		cairn_sim_xml_open(&req->xml, "securityGroupRuleSet");
	for (i = 0; i < specs.n; i++) {
		const rule_spec *s = &specs.v[i];
		ssize_t at = find_rule(rules, egress, s);

		if (!strcmp(s->peer_key, "group") && add) {
			if ((rc = ec2_load(req, &ec2_kind_sg, s->peer, &peer)) != 0)
				goto cleanup;
			cairn_sim_resource_free(peer);
			peer = NULL;
		}
		if (add && at >= 0) {
			rc = cairn_sim_fail(req, 400, "InvalidPermission.Duplicate",
				"the specified rule \"peer: %s, %s, from port: %ld, to port: %ld, ALLOW\" already exists",
				s->peer, strcmp(s->proto, "-1") ? s->proto : "ALL", s->from, s->to);
			goto cleanup;
		}
		if (!add && at < 0) {
			rc = cairn_sim_fail(req, 400, "InvalidPermission.NotFound",
				"The specified rule does not exist in this security group.");
			goto cleanup;
		}
		if (add) {
			if ((rc = add_rule(rules, egress, s->proto, s->from, s->to, s->peer_key, s->peer, s->desc,
					rid, sizeof(rid))) != 0)
				goto cleanup;
			render_new_rule(req, r, rid, egress, s);
		} else {
			json_array_remove(rules, (size_t)at);
		}
	}
	if (add)
		cairn_sim_xml_close(&req->xml, "securityGroupRuleSet");
	else
		ec2_return_true(req);
	rc = cairn_sim_store_put(req->sim->store, r);
cleanup:
	free(specs.v);
	cairn_sim_resource_free(r);
	return rc;
}

int ec2_authorize_ingress(cairn_sim_req *req)
{
	return change_rules(req, 0, 1);
}

int ec2_authorize_egress(cairn_sim_req *req)
{
	return change_rules(req, 1, 1);
}

int ec2_revoke_ingress(cairn_sim_req *req)
{
	return change_rules(req, 0, 0);
}

int ec2_revoke_egress(cairn_sim_req *req)
{
	return change_rules(req, 1, 0);
}
