// Package strictyaml decodes YAML the way the Kubernetes API server decodes a request:
// field names match case-sensitively, and unknown or duplicate fields are errors. (Plain
// encoding/json, under sigs.k8s.io/yaml's UnmarshalStrict, matches field names
// case-insensitively: `SPEC:` or `PODSELECTOR:` would load.)
package strictyaml

import (
	"errors"

	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"
)

// Unmarshal decodes one YAML document into v strictly. Errors keep the shapes of
// sigs.k8s.io/yaml's ("error converting YAML to JSON: yaml: line N: ...") and of the
// strict JSON decoder's (`unknown field "spec.x"`), which callers map to file lines.
func Unmarshal(data []byte, v any) error {
	j, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return err
	}
	strict, err := kjson.UnmarshalStrict(j, v, kjson.DisallowDuplicateFields, kjson.DisallowUnknownFields)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}
