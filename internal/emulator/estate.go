package emulator

import (
	"net/http"
	"strings"
	"sync"
)

// A Place is one account and region of SageMaker.
type Place struct{ Account, Region string }

// Estate serves several accounts and regions of SageMaker behind one
// endpoint, one Emulator each, as AWS tells them apart: the region by the
// request's SigV4 signature (its credential scope), the account by whose
// access key signed it. A client of any region, pointed at the Estate with
// AWS_ENDPOINT_URL_SAGEMAKER, reaches that region's jobs only; one with the
// credentials an assumed role returned reaches that role's account only.
type Estate struct {
	account string // the account of an access key not registered

	mu     sync.Mutex
	places map[Place]*Emulator
	keys   map[string]string // access key ID -> account
}

var _ http.Handler = (*Estate)(nil)

// NewEstate returns an Estate with no place. A request signed with an
// access key that Credentials did not register is taken for account's:
// the function's own credentials, whatever they are.
func NewEstate(account string) *Estate {
	return &Estate{account: account, places: map[Place]*Emulator{}, keys: map[string]string{}}
}

// Add serves the place p with an Emulator made with opts (its ARNs name p),
// and returns it.
func (e *Estate) Add(p Place, opts ...Option) *Emulator {
	emu := New(append(opts, WithAccount(p.Account), WithRegion(p.Region))...)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.places[p] = emu
	return emu
}

// Credentials says that requests signed with accessKeyID are account's:
// the credentials STS returned for a role of that account.
func (e *Estate) Credentials(accessKeyID, account string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.keys[accessKeyID] = account
}

// ServeHTTP answers the request as the Emulator of its place would. A
// request of a place the Estate does not serve is answered as AWS answers
// one to a region not enabled for the account: UnrecognizedClientException.
func (e *Estate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key, region, ok := signedBy(r.Header.Get("Authorization"))
	if !ok {
		writeError(w, http.StatusBadRequest, "MissingAuthenticationTokenException", "Request is missing Authentication Token")
		return
	}
	e.mu.Lock()
	account, known := e.keys[key]
	if !known {
		account = e.account
	}
	emu := e.places[Place{Account: account, Region: region}]
	e.mu.Unlock()
	if emu == nil {
		writeError(w, http.StatusBadRequest, "UnrecognizedClientException", "The security token included in the request is invalid.")
		return
	}
	emu.ServeHTTP(w, r)
}

// signedBy reads the access key ID and region of a SigV4 Authorization
// header: "AWS4-HMAC-SHA256 Credential=KEY/DATE/REGION/SERVICE/aws4_request,
// SignedHeaders=..., Signature=...".
func signedBy(authorization string) (key, region string, ok bool) {
	_, rest, ok := strings.Cut(authorization, "Credential=")
	if !ok {
		return "", "", false
	}
	scope, _, _ := strings.Cut(rest, ",")
	parts := strings.Split(scope, "/")
	if len(parts) != 5 || parts[0] == "" || parts[2] == "" {
		return "", "", false
	}
	return parts[0], parts[2], true
}
