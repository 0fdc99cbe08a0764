"""Tempest as upstream runs it, for vstage's test runs only (on PYTHONPATH there).

Debian's tempest package adds ``time.sleep(10)`` to ``SubnetsClient.delete_subnet``
(upstream Tempest has none): every subnet a test deletes costs ten idle seconds, most
of a network API run. This puts back upstream's method. Nothing else is changed, and
nothing outside the runs that put this directory on PYTHONPATH is affected.
"""

try:
    from tempest.lib.services.network import subnets_client as _subnets

    def _delete_subnet(self, subnet_id):
        uri = '/subnets/%s' % subnet_id
        return self.delete_resource(uri)

    _subnets.SubnetsClient.delete_subnet = _delete_subnet
except ImportError:
    pass
