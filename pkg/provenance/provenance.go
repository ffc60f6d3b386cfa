// Package provenance writes and reads the build provenance of an image: an
// in-toto Statement v1 whose predicate is SLSA provenance v1
// (https://slsa.dev/provenance/v1), built with the in-toto attestation Go
// types, signed with the artifact-signing key as a sigstore bundle holding
// a DSSE envelope (pkg/sign). `cosign verify-blob-attestation --key
// signing.pub --bundle BUNDLE --type slsaprovenance1
// --insecure-ignore-tlog=true ARTIFACT` checks it (pkg/imagedir names the
// files).
//
// What it says: the build type (ours, BuildType); as external parameters
// the spec's path and SHA-256 and the SOURCE_DATE_EPOCH; as resolved
// dependencies the spec, the lock, every .deb (purl and SHA-256), our guest
// binaries and hardenvm itself (version, commit); the builder (hardenvm with
// its version); as subjects every output artifact with its SHA-256. Run
// metadata carries no start and finish times: they would come from the
// clock, and the statement, like the image, is a function of its inputs.
package provenance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	slsa1 "github.com/in-toto/attestation/go/predicates/provenance/v1"
	ita1 "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

// PredicateType is SLSA provenance v1.
const PredicateType = "https://slsa.dev/provenance/v1"

// BuildType names how hardenvm builds an image (spec + lock -> signed
// image directory); the external parameters are the spec and the epoch.
const BuildType = "https://github.com/hardenvm/hardenvm/buildtypes/image/v1"

// BuilderID identifies the builder: the hardenvm command.
const BuilderID = "https://github.com/hardenvm/hardenvm/cmd/hardenvm"

// Resource is an input or output by name, URI and SHA-256 (any may be
// empty but not all).
type Resource struct {
	Name, URI, SHA256 string
	GitCommit         string // for a source checkout
}

// Input is what the statement records.
type Input struct {
	Spec         Resource // its Name is the spec's path as given to the build
	Epoch        int64    // SOURCE_DATE_EPOCH
	Dependencies []Resource
	// BuilderVersion is hardenvm's version (and Go's) as key -> value.
	BuilderVersion map[string]string
	Subjects       []Resource
}

// Statement returns the in-toto statement as compact JSON: the DSSE
// payload.
func Statement(in Input) ([]byte, error) {
	ext, err := structpb.NewStruct(map[string]any{"spec": in.Spec.Name, "specSha256": in.Spec.SHA256, "sourceDateEpoch": float64(in.Epoch)})
	if err != nil {
		return nil, fmt.Errorf("provenance: %w", err)
	}
	deps := []*ita1.ResourceDescriptor{}
	for _, d := range append([]Resource{in.Spec}, in.Dependencies...) {
		deps = append(deps, descriptor(d))
	}
	pred := &slsa1.Provenance{
		BuildDefinition: &slsa1.BuildDefinition{BuildType: BuildType, ExternalParameters: ext, ResolvedDependencies: deps},
		RunDetails: &slsa1.RunDetails{
			Builder:  &slsa1.Builder{Id: BuilderID, Version: in.BuilderVersion},
			Metadata: &slsa1.BuildMetadata{InvocationId: fmt.Sprintf("urn:hardenvm:build:%s:%d", in.Spec.SHA256, in.Epoch)},
		},
	}
	predJSON, err := protojson.Marshal(pred)
	if err != nil {
		return nil, fmt.Errorf("provenance: %w", err)
	}
	predStruct := &structpb.Struct{}
	if err := protojson.Unmarshal(predJSON, predStruct); err != nil {
		return nil, fmt.Errorf("provenance: %w", err)
	}
	subjects := slices.Clone(in.Subjects)
	slices.SortFunc(subjects, func(a, b Resource) int { return strings.Compare(a.Name, b.Name) })
	st := &ita1.Statement{Type: ita1.StatementTypeUri, PredicateType: PredicateType, Predicate: predStruct}
	for _, s := range subjects {
		st.Subject = append(st.Subject, descriptor(s))
	}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("provenance: BUG: %w", err)
	}
	raw, err := protojson.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("provenance: %w", err)
	}
	// protojson varies its whitespace on purpose: compact it so equal
	// inputs give equal payloads.
	var out bytes.Buffer
	if err := json.Compact(&out, raw); err != nil {
		return nil, fmt.Errorf("provenance: BUG: %w", err)
	}
	return out.Bytes(), nil
}

func descriptor(r Resource) *ita1.ResourceDescriptor {
	d := &ita1.ResourceDescriptor{Name: r.Name, Uri: r.URI}
	if r.SHA256 != "" || r.GitCommit != "" {
		d.Digest = map[string]string{}
	}
	if r.SHA256 != "" {
		d.Digest["sha256"] = r.SHA256
	}
	if r.GitCommit != "" {
		d.Digest["gitCommit"] = r.GitCommit
	}
	return d
}

// Parsed is what Parse reads out of a statement.
type Parsed struct {
	// Subjects maps each subject's name to its SHA-256.
	Subjects  map[string]string
	BuildType string
	Builder   string
}

// Parse reads a statement (the verified DSSE payload) and checks that it
// is an in-toto v1 statement of SLSA provenance v1 with SHA-256 subjects.
func Parse(payload []byte) (*Parsed, error) {
	var st ita1.Statement
	if err := protojson.Unmarshal(payload, &st); err != nil {
		return nil, fmt.Errorf("provenance: not an in-toto statement: %w", err)
	}
	if err := st.Validate(); err != nil {
		return nil, fmt.Errorf("provenance: in-toto statement: %w", err)
	}
	if st.GetType() != ita1.StatementTypeUri || st.GetPredicateType() != PredicateType {
		return nil, fmt.Errorf("provenance: statement %s of %s, want %s of %s", st.GetType(), st.GetPredicateType(), ita1.StatementTypeUri, PredicateType)
	}
	b, err := protojson.Marshal(st.GetPredicate())
	if err != nil {
		return nil, fmt.Errorf("provenance: %w", err)
	}
	var pred slsa1.Provenance
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(b, &pred); err != nil {
		return nil, fmt.Errorf("provenance: SLSA predicate: %w", err)
	}
	p := &Parsed{Subjects: map[string]string{}, BuildType: pred.GetBuildDefinition().GetBuildType(), Builder: pred.GetRunDetails().GetBuilder().GetId()}
	for _, s := range st.GetSubject() {
		sum := s.GetDigest()["sha256"]
		if s.GetName() == "" || sum == "" {
			return nil, fmt.Errorf("provenance: subject %q has no name or no sha256", s.GetName())
		}
		p.Subjects[s.GetName()] = sum
	}
	return p, nil
}
