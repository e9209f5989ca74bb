package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/labelwatch/labelwatch/internal/emulator"
	"github.com/labelwatch/labelwatch/internal/labeling"
)

// laptop is the root of a machine outside AWS, as onEC2 reads it.
func laptop() fstest.MapFS {
	return fstest.MapFS{
		"sys/devices/virtual/dmi/id/sys_vendor":      {Data: []byte("LENOVO\n")},
		"sys/devices/virtual/dmi/id/board_asset_tag": {Data: []byte("Not Available\n")},
		"sys/devices/virtual/dmi/id/product_uuid":    {Data: []byte("4c4c4544-0042-3510-8052-b4c04f4e3232\n")},
	}
}

// nitro is the root of an EC2 instance built on Nitro.
func nitro() fstest.MapFS {
	return fstest.MapFS{
		"sys/devices/virtual/dmi/id/sys_vendor":      {Data: []byte("Amazon EC2\n")},
		"sys/devices/virtual/dmi/id/board_asset_tag": {Data: []byte("i-0af01c0123456789a\n")},
	}
}

func TestOnEC2(t *testing.T) {
	const dmi = "sys/devices/virtual/dmi/id/"
	file := func(name, content string) fstest.MapFS {
		return fstest.MapFS{name: {Data: []byte(content)}}
	}
	tests := []struct {
		name string
		root fs.FS
		want bool
	}{
		{"no /sys (macOS, a container without it)", fstest.MapFS{}, false},
		{"laptop", laptop(), false},
		{"other cloud", file(dmi+"sys_vendor", "Google\n"), false},
		{"Nitro instance", nitro(), true},
		{"Nitro, asset tag only", file(dmi+"board_asset_tag", "i-0af01c0123456789a\n"), true},
		{"Nitro, vendor only", file(dmi+"sys_vendor", "Amazon EC2\n"), true},
		{"Xen paravirtual", file("sys/hypervisor/uuid", "ec2e1916-9099-7caf-fd21-012345abcdef\n"), true},
		{"Xen HVM, read as root", file(dmi+"product_uuid", "EC2E1916-9099-7CAF-FD21-012345ABCDEF\n"), true},
		{"Xen HVM, read as a user", file(dmi+"bios_version", "4.11.amazon\n"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := onEC2(tt.root); got != tt.want {
				t.Errorf("onEC2 = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestRun runs `labelwatch run` as a newcomer would, in a process
// environment holding only what each case sets: no AWS variables, an empty
// home, the instance metadata service (IMDS) on a local server that counts
// requests and SageMaker on the emulator. A failed run says why once and
// leaves no state file; a successful one keeps its state.
func TestRun(t *testing.T) {
	keys := map[string]string{"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret", "AWS_REGION": "us-east-1"}
	howTo := []string{"no AWS credentials found", "AWS_PROFILE", "`aws configure`", "`aws sso login`", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
	tests := []struct {
		name      string
		root      fs.FS
		env       map[string]string
		home      map[string]string // files in the empty home directory
		role      bool              // whether IMDS gives an instance role
		denied    bool              // whether SageMaker refuses the credentials
		wantCode  int
		wantOnce  []string // in stderr exactly once each
		wantIMDS  bool     // whether IMDS was asked
		wantState bool
	}{
		{name: "no credentials, not on EC2", root: laptop(),
			env:      map[string]string{"AWS_REGION": "us-east-1"},
			wantCode: 1, wantOnce: append(howTo, "does not look like an EC2 instance")},
		{name: "no credentials nor region, not on EC2", root: fstest.MapFS{},
			wantCode: 1, wantOnce: howTo},
		{name: "no credentials, on EC2 without a role", root: nitro(),
			env:      map[string]string{"AWS_REGION": "us-east-1"},
			wantCode: 1, wantOnce: append(howTo, "gave no role"), wantIMDS: true},
		{name: "no credentials, not on EC2 as far as labelwatch sees, IMDS asked for", root: laptop(),
			env:      map[string]string{"AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "false"},
			wantCode: 1, wantOnce: howTo, wantIMDS: true},
		{name: "no credentials, on EC2, IMDS turned off", root: nitro(),
			env:      map[string]string{"AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"},
			wantCode: 1, wantOnce: append(howTo, "AWS_EC2_METADATA_DISABLED is true")},
		{name: "no region", root: laptop(),
			env:      map[string]string{"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret"},
			wantCode: 1, wantOnce: []string{"no AWS region set: set AWS_REGION"}},
		{name: "profile", root: laptop(),
			home: map[string]string{
				"credentials": "[default]\naws_access_key_id = AKIDEXAMPLE\naws_secret_access_key = secret\n",
				"config":      "[default]\nregion = us-east-1\n",
			},
			wantCode: 0, wantState: true},
		{name: "access keys", root: laptop(), env: keys, wantCode: 0, wantState: true},
		{name: "instance role on EC2", root: nitro(), env: map[string]string{"AWS_REGION": "us-east-1"}, role: true,
			wantCode: 0, wantIMDS: true, wantState: true},
		{name: "credentials SageMaker refuses", root: laptop(), env: keys, denied: true,
			wantCode: 1, wantOnce: []string{"is not authorized to perform: sagemaker:ListLabelingJobs"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var imdsCalls atomic.Int64
			imds := httptest.NewServer(fakeIMDS(t, tt.role, &imdsCalls))
			defer imds.Close()
			emu := emulator.New()
			emu.Put(labeling.Job{Name: "bird-species-v3", Status: labeling.StatusInProgress})
			var sagemaker http.Handler = emu
			if tt.denied {
				sagemaker = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "application/x-amz-json-1.1")
					w.WriteHeader(http.StatusBadRequest)
					io.WriteString(w, `{"__type": "AccessDeniedException", "message": "User: arn:aws:iam::123456789012:user/newcomer is not authorized to perform: sagemaker:ListLabelingJobs"}`)
				})
			}
			sm := httptest.NewServer(sagemaker)
			defer sm.Close()

			env := map[string]string{
				"AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.URL,
				"AWS_ENDPOINT_URL_SAGEMAKER":        sm.URL,
			}
			for k, v := range tt.env {
				env[k] = v
			}
			home := isolateAWS(t, env)
			for name, content := range tt.home {
				if err := os.WriteFile(filepath.Join(home, name), []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			dir := t.TempDir()
			t.Chdir(dir)

			stdout, stderr, code := cli(t, []string{"run"}, tt.root)

			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, stdout, stderr)
			}
			for _, want := range tt.wantOnce {
				if n := strings.Count(stderr, want); n != 1 {
					t.Errorf("stderr says %q %d times, want once:\n%s", want, n, stderr)
				}
			}
			if n := imdsCalls.Load(); (n > 0) != tt.wantIMDS {
				t.Errorf("IMDS got %d requests; want any: %v", n, tt.wantIMDS)
			}
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantState {
				if len(entries) != 1 || entries[0].Name() != "labelwatch-state.json" {
					t.Fatalf("directory holds %v, want labelwatch-state.json only", entries)
				}
				data, err := os.ReadFile("labelwatch-state.json")
				if err != nil || !strings.Contains(string(data), `"bird-species-v3"`) {
					t.Errorf("state file (%v) does not record the job:\n%s", err, data)
				}
				if !strings.Contains(stdout, "listed 1 (") {
					t.Errorf("stdout does not sum the cycle up:\n%s", stdout)
				}
			} else if len(entries) != 0 {
				t.Errorf("a failed run left %v behind", entries)
			}
		})
	}
}

// isolateAWS gives the test a process environment, which the AWS SDK reads,
// without any AWS setting of the machine's and with an empty home, then sets
// env. It returns the home directory, where the SDK looks for config and
// credentials.
func isolateAWS(t *testing.T, env map[string]string) (home string) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "AWS_") {
			t.Setenv(k, "") // restored after the test
			os.Unsetenv(k)
		}
	}
	home = t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(home, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(home, "credentials"))
	for k, v := range env {
		t.Setenv(k, v)
	}
	return home
}

// fakeIMDS answers as the instance metadata service of an EC2 instance with
// an instance role or without one, counting requests.
func fakeIMDS(t *testing.T, role bool, calls *atomic.Int64) http.Handler {
	const rolePath = "/latest/meta-data/iam/security-credentials/"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		switch {
		case r.Method == http.MethodPut && r.URL.Path == "/latest/api/token":
			w.Header().Set("X-Aws-Ec2-Metadata-Token-Ttl-Seconds", r.Header.Get("X-Aws-Ec2-Metadata-Token-Ttl-Seconds"))
			io.WriteString(w, "token")
		case !role:
			http.NotFound(w, r)
		case r.URL.Path == rolePath:
			io.WriteString(w, "labelwatch-role")
		case r.URL.Path == rolePath+"labelwatch-role":
			json.NewEncoder(w).Encode(map[string]any{
				"Code": "Success", "AccessKeyId": "ASIAEXAMPLE", "SecretAccessKey": "secret", "Token": "session",
				"Expiration": time.Now().Add(6 * time.Hour).UTC().Format(time.RFC3339),
			})
		default:
			t.Errorf("unexpected IMDS request %s %s", r.Method, r.URL)
			http.NotFound(w, r)
		}
	})
}

// cli runs labelwatch with args as main does, with labelwatch's own settings
// unset and AWS settings from the process environment as the SDK reads them,
// and returns what the user sees.
func cli(t *testing.T, args []string, root fs.FS) (stdout, stderr string, code int) {
	t.Helper()
	getenv := func(k string) string {
		if strings.HasPrefix(k, "AWS_") {
			return os.Getenv(k)
		}
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errOut strings.Builder
	code = exitCode(run(ctx, args, getenv, root, &out, &errOut), &errOut)
	return out.String(), errOut.String(), code
}

func TestUsage(t *testing.T) {
	tests := []struct {
		args       []string
		wantCode   int
		wantStdout string // in stdout; stderr empty
		wantStderr string // in stderr; stdout empty
	}{
		{[]string{"--help"}, 0, "Commands:", ""},
		{[]string{"-help"}, 0, "Commands:", ""},
		{[]string{"-h"}, 0, "Commands:", ""},
		{[]string{"help"}, 0, "Commands:", ""},
		{[]string{"help", "run"}, 0, "usage: labelwatch run [-state FILE]", ""},
		{[]string{"run", "--help"}, 0, "usage: labelwatch run [-state FILE]", ""},
		{[]string{"run", "-h"}, 0, "-state FILE", ""},
		{[]string{"demo", "--help"}, 0, "usage: labelwatch demo [-state FILE]", ""},
		{[]string{"demo", "-state", "x", "-h"}, 0, "usage: labelwatch demo", ""},
		{nil, 2, "", "labelwatch: missing command: run or demo\n\nusage: labelwatch <command>"},
		{[]string{"bogus"}, 2, "", `labelwatch: unknown command "bogus"`},
		{[]string{"--state", "x"}, 2, "", `labelwatch: unknown command "--state"`},
		{[]string{"help", "bogus"}, 2, "", "labelwatch: help bogus: want help, help run or help demo"},
		{[]string{"run", "-bogus"}, 2, "", "labelwatch: flag provided but not defined: -bogus\n\nusage: labelwatch run"},
		{[]string{"run", "-state"}, 2, "", "flag needs an argument: -state"},
		{[]string{"demo", "now"}, 2, "", `labelwatch: demo takes no arguments, got "now"` + "\n\nusage: labelwatch demo"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.args), func(t *testing.T) {
			// Usage is settled before anything reads the environment.
			stdout, stderr, code := cli(t, tt.args, fstest.MapFS{})
			if code != tt.wantCode {
				t.Errorf("exit code %d, want %d", code, tt.wantCode)
			}
			for _, s := range []struct{ name, got, want string }{{"stdout", stdout, tt.wantStdout}, {"stderr", stderr, tt.wantStderr}} {
				if s.want == "" && s.got != "" || !strings.Contains(s.got, s.want) {
					t.Errorf("%s:\n%s\nwant it to hold %q", s.name, s.got, s.want)
				}
			}
		})
	}
}
