package main

import (
	"fmt"
	"net"
	"strings"

	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	"github.com/ray-project/kuberay/ray-operator/controllers/ray/utils"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	sigsyaml "sigs.k8s.io/yaml"
)

func metaOf(obj runtime.Object) (metav1.Object, error) {
	return meta.Accessor(obj)
}

// template is a pod template somewhere in the set, with what owns it.
type template struct {
	owner  string
	ns     string
	labels map[string]string
}

type index struct {
	byKind    map[string]map[string]object // kind -> namespace/name -> object
	templates []template
	// Secrets that the set refers to but may hold no keys of (kept by the operator).
	namespaces map[string]bool
}

func key(ns, name string) string { return ns + "/" + name }

func newIndex(objects []object) *index {
	ix := &index{byKind: map[string]map[string]object{}, namespaces: map[string]bool{}}
	for _, o := range objects {
		if ix.byKind[o.kind] == nil {
			ix.byKind[o.kind] = map[string]object{}
		}
		ix.byKind[o.kind][key(o.ns, o.name)] = o
		if o.kind == "Namespace" {
			ix.namespaces[o.name] = true
		}
		for _, t := range podTemplates(o) {
			ix.templates = append(ix.templates, template{owner: o.kind + "/" + o.name, ns: o.ns, labels: t.Labels})
		}
	}
	return ix
}

func (ix *index) get(kind, ns, name string) (object, bool) {
	o, ok := ix.byKind[kind][key(ns, name)]
	return o, ok
}

// matches says whether a selector picks at least one pod template of the namespace.
func (ix *index) matches(ns string, selector labels.Selector) bool {
	for _, t := range ix.templates {
		if t.ns == ns && selector.Matches(labels.Set(t.labels)) {
			return true
		}
	}
	return false
}

// podTemplates are the pod templates an object stamps pods from.
func podTemplates(o object) []*corev1.PodTemplateSpec {
	switch v := o.obj.(type) {
	case *appsv1.StatefulSet:
		return []*corev1.PodTemplateSpec{&v.Spec.Template}
	case *appsv1.Deployment:
		return []*corev1.PodTemplateSpec{&v.Spec.Template}
	case *batchv1.Job:
		return []*corev1.PodTemplateSpec{&v.Spec.Template}
	case *rayv1.RayService:
		return rayTemplates(&v.Spec.RayClusterSpec)
	case *rayv1.RayCluster:
		return rayTemplates(&v.Spec)
	}
	return nil
}

func rayTemplates(spec *rayv1.RayClusterSpec) []*corev1.PodTemplateSpec {
	out := []*corev1.PodTemplateSpec{&spec.HeadGroupSpec.Template}
	for i := range spec.WorkerGroupSpecs {
		out = append(out, &spec.WorkerGroupSpecs[i].Template)
	}
	return out
}

func checkObject(o object, ix *index) []error {
	var errs []error
	m, _ := metaOf(o.obj)
	errs = append(errs, checkMeta(o, m, ix)...)
	switch v := o.obj.(type) {
	case *rayv1.RayService:
		errs = append(errs, wrap("KubeRay", utils.ValidateRayServiceMetadata(v.ObjectMeta)))
		errs = append(errs, wrap("KubeRay", utils.ValidateRayServiceSpec(v)))
		errs = append(errs, checkServeConfig(v.Spec.ServeConfigV2)...)
		errs = append(errs, checkRayCluster(o, &v.Spec.RayClusterSpec, ix)...)
	case *rayv1.RayCluster:
		errs = append(errs, wrap("KubeRay", utils.ValidateRayClusterMetadata(v.ObjectMeta)))
		errs = append(errs, wrap("KubeRay", utils.ValidateRayClusterSpec(&v.Spec, v.Annotations)))
		errs = append(errs, checkRayCluster(o, &v.Spec, ix)...)
	case *appsv1.StatefulSet:
		errs = append(errs, checkStatefulSet(o, v, ix)...)
	case *batchv1.Job:
		rp := v.Spec.Template.Spec.RestartPolicy
		if rp != corev1.RestartPolicyNever && rp != corev1.RestartPolicyOnFailure {
			errs = append(errs, fmt.Errorf("a Job's restartPolicy must be Never or OnFailure, not %q", rp))
		}
		errs = append(errs, checkPodSpec(o.ns, &v.Spec.Template.Spec, ix, false, nil)...)
	case *corev1.Service:
		errs = append(errs, checkService(o, v, ix)...)
	case *networkingv1.NetworkPolicy:
		errs = append(errs, checkNetworkPolicy(o, v, ix)...)
	case *policyv1.PodDisruptionBudget:
		if v.Spec.Selector == nil {
			errs = append(errs, fmt.Errorf("a PodDisruptionBudget needs a selector"))
		} else {
			errs = append(errs, selects(o.ns, v.Spec.Selector, ix, "selector")...)
		}
	case *corev1.ConfigMap, *corev1.Secret, *corev1.Namespace, *corev1.PersistentVolumeClaim:
	default:
		errs = append(errs, fmt.Errorf("kind %s is not one this checker knows how to check", o.kind))
	}
	return compact(errs)
}

func wrap(who string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", who, err)
}

func compact(errs []error) []error {
	var out []error
	for _, e := range errs {
		if e != nil {
			out = append(out, e)
		}
	}
	return out
}

func checkMeta(o object, m metav1.Object, ix *index) []error {
	var errs []error
	if o.name == "" {
		return []error{fmt.Errorf("metadata.name is empty")}
	}
	nameErrs := validation.IsDNS1123Subdomain(o.name)
	if o.kind == "Service" || o.kind == "Namespace" {
		nameErrs = validation.IsDNS1035Label(o.name)
	}
	for _, e := range nameErrs {
		errs = append(errs, fmt.Errorf("metadata.name %q: %s", o.name, e))
	}
	if o.kind != "Namespace" {
		if o.ns == "" {
			errs = append(errs, fmt.Errorf("metadata.namespace is empty: every object names its namespace"))
		} else if len(ix.namespaces) > 0 && !ix.namespaces[o.ns] {
			errs = append(errs, fmt.Errorf("namespace %q is not among the Namespaces of the set (%s)", o.ns, keys(ix.namespaces)))
		}
	}
	errs = append(errs, checkLabels("metadata.labels", m.GetLabels())...)
	for k := range m.GetAnnotations() {
		for _, e := range validation.IsQualifiedName(k) {
			errs = append(errs, fmt.Errorf("annotation key %q: %s", k, e))
		}
	}
	for _, t := range podTemplates(o) {
		errs = append(errs, checkLabels("template labels", t.Labels)...)
	}
	return errs
}

func checkLabels(where string, l map[string]string) []error {
	var errs []error
	for k, v := range l {
		for _, e := range validation.IsQualifiedName(k) {
			errs = append(errs, fmt.Errorf("%s key %q: %s", where, k, e))
		}
		for _, e := range validation.IsValidLabelValue(v) {
			errs = append(errs, fmt.Errorf("%s %q value %q: %s", where, k, v, e))
		}
	}
	return errs
}

// checkServeConfig: the serve config must at least be one YAML mapping without duplicate
// keys; its schema is Ray's to judge (tests/unit/test_kuberay_serve_config.py).
func checkServeConfig(text string) []error {
	if strings.TrimSpace(text) == "" {
		return []error{fmt.Errorf("serveConfigV2 is empty")}
	}
	var config map[string]any
	if err := sigsyaml.UnmarshalStrict([]byte(text), &config); err != nil {
		return []error{fmt.Errorf("serveConfigV2: %w", err)}
	}
	if _, ok := config["applications"]; !ok {
		return []error{fmt.Errorf("serveConfigV2 has no applications")}
	}
	return nil
}

func checkRayCluster(o object, spec *rayv1.RayClusterSpec, ix *index) []error {
	var errs []error
	head := &spec.HeadGroupSpec.Template.Spec
	errs = append(errs, prefix("head", checkPodSpec(o.ns, head, ix, true, nil))...)
	for i := range spec.WorkerGroupSpecs {
		group := &spec.WorkerGroupSpecs[i]
		errs = append(errs, prefix("worker group "+group.GroupName, checkPodSpec(o.ns, &group.Template.Spec, ix, true, nil))...)
		if group.MinReplicas != nil && group.MaxReplicas != nil && *group.MinReplicas > *group.MaxReplicas {
			errs = append(errs, fmt.Errorf("worker group %s: minReplicas %d > maxReplicas %d", group.GroupName, *group.MinReplicas, *group.MaxReplicas))
		}
		if group.Replicas != nil && group.MinReplicas != nil && group.MaxReplicas != nil &&
			(*group.Replicas < *group.MinReplicas || *group.Replicas > *group.MaxReplicas) {
			errs = append(errs, fmt.Errorf("worker group %s: replicas %d outside [%d, %d]", group.GroupName, *group.Replicas, *group.MinReplicas, *group.MaxReplicas))
		}
	}
	if ft := spec.GcsFaultToleranceOptions; ft != nil {
		errs = append(errs, checkAddress(o.ns, "gcsFaultToleranceOptions.redisAddress", ft.RedisAddress, ix))
		if ft.RedisPassword != nil && ft.RedisPassword.ValueFrom != nil {
			errs = append(errs, checkEnvSource(o.ns, "gcsFaultToleranceOptions.redisPassword", ft.RedisPassword.ValueFrom, ix)...)
		}
	}
	return errs
}

// checkAddress: a host:port whose host is a Service of the set (short or in-cluster
// DNS name) must name one of that Service's ports.
func checkAddress(ns, where, address string, ix *index) error {
	host, port, err := net.SplitHostPort(strings.TrimPrefix(strings.TrimPrefix(address, "redis://"), "rediss://"))
	if err != nil {
		return fmt.Errorf("%s %q: %v", where, address, err)
	}
	parts := strings.Split(host, ".")
	svcNS := ns
	if len(parts) > 1 {
		svcNS = parts[1]
	}
	o, ok := ix.get("Service", svcNS, parts[0])
	if !ok {
		return fmt.Errorf("%s %q: no Service %s/%s in the set", where, address, svcNS, parts[0])
	}
	for _, p := range o.obj.(*corev1.Service).Spec.Ports {
		if fmt.Sprint(p.Port) == port {
			return nil
		}
	}
	return fmt.Errorf("%s %q: Service %s has no port %s", where, address, parts[0], port)
}

func prefix(p string, errs []error) []error {
	var out []error
	for _, e := range errs {
		if e != nil {
			out = append(out, fmt.Errorf("%s: %w", p, e))
		}
	}
	return out
}

// checkPodSpec: every container sized (requests and limits, requests within limits),
// long-running ones probed, and every ConfigMap, Secret and volume named is there.
func checkPodSpec(ns string, spec *corev1.PodSpec, ix *index, longRunning bool, claims map[string]bool) []error {
	var errs []error
	volumes := map[string]bool{}
	for k := range claims {
		volumes[k] = true
	}
	for _, v := range spec.Volumes {
		volumes[v.Name] = true
		if v.ConfigMap != nil {
			errs = append(errs, refExists(ix, "ConfigMap", ns, v.ConfigMap.Name, v.ConfigMap.Optional))
		}
		if v.Secret != nil {
			errs = append(errs, refExists(ix, "Secret", ns, v.Secret.SecretName, v.Secret.Optional))
		}
	}
	seen := map[string]bool{}
	all := append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...)
	for i, c := range all {
		isInit := i < len(spec.InitContainers)
		where := "container " + c.Name
		if c.Name == "" {
			errs = append(errs, fmt.Errorf("a container has no name"))
		}
		if seen[c.Name] {
			errs = append(errs, fmt.Errorf("%s: the name is used twice", where))
		}
		seen[c.Name] = true
		if c.Image == "" {
			errs = append(errs, fmt.Errorf("%s: no image", where))
		}
		errs = append(errs, prefix(where, checkResources(c.Resources))...)
		for _, e := range c.Env {
			if e.ValueFrom != nil {
				errs = append(errs, prefix(where, checkEnvSource(ns, "env "+e.Name, e.ValueFrom, ix))...)
			}
		}
		for _, from := range c.EnvFrom {
			if from.ConfigMapRef != nil {
				errs = append(errs, refExists(ix, "ConfigMap", ns, from.ConfigMapRef.Name, from.ConfigMapRef.Optional))
			}
			if from.SecretRef != nil {
				errs = append(errs, refExists(ix, "Secret", ns, from.SecretRef.Name, from.SecretRef.Optional))
			}
		}
		for _, m := range c.VolumeMounts {
			if !volumes[m.Name] {
				errs = append(errs, fmt.Errorf("%s: volumeMount %q names no volume", where, m.Name))
			}
		}
		if longRunning && !isInit {
			if c.ReadinessProbe == nil || c.LivenessProbe == nil {
				errs = append(errs, fmt.Errorf("%s: a long-running container needs a readinessProbe and a livenessProbe", where))
			}
			errs = append(errs, prefix(where, checkProbePorts(c))...)
		}
	}
	return errs
}

func checkResources(r corev1.ResourceRequirements) []error {
	var errs []error
	for _, name := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, hasReq := r.Requests[name]
		limit, hasLimit := r.Limits[name]
		if !hasReq || !hasLimit {
			errs = append(errs, fmt.Errorf("resources: %s needs both a request and a limit", name))
			continue
		}
		if req.Cmp(limit) > 0 {
			errs = append(errs, fmt.Errorf("resources: %s request %s is above its limit %s", name, req.String(), limit.String()))
		}
	}
	return errs
}

func checkProbePorts(c corev1.Container) []error {
	named := map[string]bool{}
	for _, p := range c.Ports {
		if p.Name != "" {
			named[p.Name] = true
		}
	}
	var errs []error
	for what, probe := range map[string]*corev1.Probe{"readinessProbe": c.ReadinessProbe, "livenessProbe": c.LivenessProbe, "startupProbe": c.StartupProbe} {
		if probe == nil {
			continue
		}
		var port string
		if probe.HTTPGet != nil && probe.HTTPGet.Port.StrVal != "" {
			port = probe.HTTPGet.Port.StrVal
		}
		if probe.TCPSocket != nil && probe.TCPSocket.Port.StrVal != "" {
			port = probe.TCPSocket.Port.StrVal
		}
		if port != "" && !named[port] {
			errs = append(errs, fmt.Errorf("%s names port %q, which the container does not declare", what, port))
		}
	}
	return errs
}

func checkEnvSource(ns, where string, src *corev1.EnvVarSource, ix *index) []error {
	if ref := src.ConfigMapKeyRef; ref != nil {
		return []error{refKey(ix, "ConfigMap", ns, ref.Name, ref.Key, ref.Optional, where)}
	}
	if ref := src.SecretKeyRef; ref != nil {
		return []error{refKey(ix, "Secret", ns, ref.Name, ref.Key, ref.Optional, where)}
	}
	return nil
}

func refExists(ix *index, kind, ns, name string, optional *bool) error {
	if optional != nil && *optional {
		return nil
	}
	if _, ok := ix.get(kind, ns, name); !ok {
		return fmt.Errorf("%s %s/%s is referred to but not in the set", kind, ns, name)
	}
	return nil
}

func refKey(ix *index, kind, ns, name, k string, optional *bool, where string) error {
	if err := refExists(ix, kind, ns, name, optional); err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	o, ok := ix.get(kind, ns, name)
	if !ok {
		return nil
	}
	has := false
	switch v := o.obj.(type) {
	case *corev1.ConfigMap:
		_, has = v.Data[k]
	case *corev1.Secret:
		_, inData := v.Data[k]
		_, inString := v.StringData[k]
		has = inData || inString
	}
	if !has && (optional == nil || !*optional) {
		return fmt.Errorf("%s: %s %s has no key %q", where, kind, name, k)
	}
	return nil
}

func checkStatefulSet(o object, s *appsv1.StatefulSet, ix *index) []error {
	var errs []error
	if s.Spec.Selector == nil {
		errs = append(errs, fmt.Errorf("spec.selector is required"))
	} else {
		sel, err := metav1.LabelSelectorAsSelector(s.Spec.Selector)
		if err != nil {
			errs = append(errs, fmt.Errorf("spec.selector: %w", err))
		} else if !sel.Matches(labels.Set(s.Spec.Template.Labels)) {
			errs = append(errs, fmt.Errorf("spec.selector does not match the template's labels"))
		}
	}
	if svc, ok := ix.get("Service", o.ns, s.Spec.ServiceName); !ok {
		errs = append(errs, fmt.Errorf("serviceName %q: no such Service in the set", s.Spec.ServiceName))
	} else if svc.obj.(*corev1.Service).Spec.ClusterIP != corev1.ClusterIPNone {
		errs = append(errs, fmt.Errorf("serviceName %q: the governing Service must be headless (clusterIP: None)", s.Spec.ServiceName))
	}
	claims := map[string]bool{}
	for _, c := range s.Spec.VolumeClaimTemplates {
		claims[c.Name] = true
		if _, ok := c.Spec.Resources.Requests[corev1.ResourceStorage]; !ok {
			errs = append(errs, fmt.Errorf("volumeClaimTemplate %s: no storage request", c.Name))
		}
	}
	errs = append(errs, checkPodSpec(o.ns, &s.Spec.Template.Spec, ix, true, claims)...)
	return errs
}

func checkService(o object, s *corev1.Service, ix *index) []error {
	if len(s.Spec.Selector) == 0 {
		return nil
	}
	if !ix.matches(o.ns, labels.SelectorFromSet(s.Spec.Selector)) {
		return []error{fmt.Errorf("selector %v matches no pod template in the set", s.Spec.Selector)}
	}
	return nil
}

func selects(ns string, ls *metav1.LabelSelector, ix *index, where string) []error {
	sel, err := metav1.LabelSelectorAsSelector(ls)
	if err != nil {
		return []error{fmt.Errorf("%s: %w", where, err)}
	}
	if !ix.matches(ns, sel) {
		return []error{fmt.Errorf("%s %s matches no pod template in the set", where, sel.String())}
	}
	return nil
}

func checkNetworkPolicy(o object, p *networkingv1.NetworkPolicy, ix *index) []error {
	errs := selects(o.ns, &p.Spec.PodSelector, ix, "podSelector")
	for _, rule := range p.Spec.Ingress {
		for _, peer := range rule.From {
			if peer.PodSelector != nil && peer.NamespaceSelector == nil {
				errs = append(errs, selects(o.ns, peer.PodSelector, ix, "ingress from podSelector")...)
			}
		}
	}
	return errs
}
