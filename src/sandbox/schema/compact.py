# Compacts the real kube-apiserver's OpenAPI v3 documents to what the sandbox's decoder needs.
import json, glob, sys
roots = {
 'api_v1': ['ConfigMap','Namespace','Pod','ResourceQuota','Secret','ServiceAccount','Service'],
 'apis_apps_v1': ['Deployment'],
 'apis_discovery.k8s.io_v1': ['EndpointSlice'],
 'apis_rbac.authorization.k8s.io_v1': ['ClusterRoleBinding','ClusterRole','RoleBinding','Role'],
 'apis_admissionregistration.k8s.io_v1': ['MutatingWebhookConfiguration','ValidatingWebhookConfiguration'],
 'apis_apiextensions.k8s.io_v1': ['CustomResourceDefinition'],
}
defs = {}
kinds = {}
allschemas = {}
for f, ks in roots.items():
    s = json.load(open(f'oa/{f}.json'))['components']['schemas']
    allschemas.update(s)
    for name, d in s.items():
        gvk = d.get('x-kubernetes-group-version-kind')
        if gvk and len(gvk) == 1 and gvk[0]['kind'] in ks and not name.endswith('List'):
            g = gvk[0]
            kinds[f"{g['group']}/{g['version']}/{g['kind']}"] = name
def ref(node):
    if '$ref' in node: return node['$ref'].split('/')[-1]
    if 'allOf' in node and len(node['allOf']) == 1 and '$ref' in node['allOf'][0]:
        return node['allOf'][0]['$ref'].split('/')[-1]
    return None
def compact(node):
    r = ref(node)
    if r:
        want(r)
        # A non-pointer struct field: present (as {}) in its parent's zero value.
        return {'ref': r, 'zero': True} if node.get('default') == {} else {'ref': r}
    out = {}
    for k in ('type','format','x-kubernetes-int-or-string','x-kubernetes-preserve-unknown-fields','x-kubernetes-list-type','x-kubernetes-list-map-keys','x-kubernetes-map-type'):
        if k in node: out[k] = node[k]
    if node.get('required'): out['required'] = node['required']
    if 'properties' in node:
        out['properties'] = {k: compact(v) for k, v in node['properties'].items()}
    if 'items' in node: out['items'] = compact(node['items'])
    if isinstance(node.get('additionalProperties'), dict): out['additionalProperties'] = compact(node['additionalProperties'])
    if 'oneOf' in node and 'type' not in out:
        out['oneOf'] = [t.get('type') for t in node['oneOf']]
    return out
todo = []
def want(name):
    if name not in defs:
        defs[name] = None; todo.append(name)
for n in kinds.values(): want(n)
while todo:
    n = todo.pop(); defs[n] = compact(allschemas[n])
print(json.dumps({'kinds': dict(sorted(kinds.items())), 'definitions': dict(sorted(defs.items()))}, separators=(',',':')))
