// Command check reads flashsale's Kubernetes manifests the way the API server and the
// KubeRay operator will: every document is strict-decoded into the real API types
// (k8s.io/api for core kinds, KubeRay's ray.io/v1 types), so an unknown field, a
// duplicate YAML key or a bad quantity is an error, and RayServices and RayClusters go
// through KubeRay's own validation (controllers/ray/utils). On top of that it checks
// what no single object can: that the objects refer to each other correctly.
//
//	go run . ../manifests ../secrets.example.yaml
//
// It prints one line per object and exits 1 if anything is wrong.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	rayv1 "github.com/ray-project/kuberay/ray-operator/apis/ray/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	sigsyaml "sigs.k8s.io/yaml"
)

// object is one decoded document and where it came from.
type object struct {
	source string // file:document number
	obj    runtime.Object
	kind   string
	name   string
	ns     string
}

func newScheme() *runtime.Scheme {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme,
		networkingv1.AddToScheme, policyv1.AddToScheme, rayv1.AddToScheme,
	} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
	return scheme
}

// files lists the YAML files named, a directory standing for the *.yaml files in it.
func files(args []string) ([]string, error) {
	var out []string
	for _, arg := range args {
		info, err := os.Stat(arg)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			out = append(out, arg)
			continue
		}
		found, err := filepath.Glob(filepath.Join(arg, "*.yaml"))
		if err != nil {
			return nil, err
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}

// documents splits a file into its YAML documents, skipping empty ones.
func documents(path string) ([][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		var probe map[string]any
		if err := sigsyaml.Unmarshal(doc, &probe); err != nil {
			return nil, err
		}
		if len(probe) > 0 {
			docs = append(docs, doc)
		}
	}
}

func decodeAll(paths []string) ([]object, []string) {
	scheme := newScheme()
	// The API server's strict field validation: unknown and duplicate fields are errors.
	strict := kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme,
		kjson.SerializerOptions{Yaml: true, Strict: true})
	var objects []object
	var problems []string
	for _, path := range paths {
		docs, err := documents(path)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", path, err))
			continue
		}
		for i, doc := range docs {
			source := fmt.Sprintf("%s#%d", path, i+1)
			obj, gvk, err := strict.Decode(doc, nil, nil)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", source, err))
				continue
			}
			meta, err := metaOf(obj)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: %v", source, err))
				continue
			}
			objects = append(objects, object{
				source: source, obj: obj, kind: gvk.Kind, name: meta.GetName(), ns: meta.GetNamespace(),
			})
		}
	}
	return objects, problems
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: check FILE_OR_DIR...")
		os.Exit(2)
	}
	paths, err := files(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "check:", err)
		os.Exit(2)
	}
	objects, problems := decodeAll(paths)
	set := newIndex(objects)
	for _, o := range objects {
		errs := checkObject(o, set)
		for _, e := range errs {
			problems = append(problems, fmt.Sprintf("%s: %s %s: %v", o.source, o.kind, o.name, e))
		}
		if len(errs) == 0 {
			fmt.Printf("ok   %-22s %-28s %s\n", o.kind, o.name, o.source)
		}
	}
	for _, p := range problems {
		fmt.Println("FAIL", p)
	}
	fmt.Printf("%d objects in %d files: strict decoding with the API types, KubeRay's validation, references; %s\n",
		len(objects), len(paths), verdict(problems))
	if len(problems) > 0 {
		os.Exit(1)
	}
}

func verdict(problems []string) string {
	if len(problems) == 0 {
		return "all ok"
	}
	return fmt.Sprintf("%d problem(s)", len(problems))
}

// keys is a small helper for stable messages.
func keys(m map[string]bool) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
