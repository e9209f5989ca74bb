// Package testenv starts the local services labelwatch's tests talk to over
// their real protocols, such as dynalite for DynamoDB.
package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// StartTimeout bounds starting a server (dynalite, the Lambda emulator) or
// creating a table. These take well under a second on an idle machine, but
// `make test` runs them while other test packages compile on the same two
// cores: only a hang should ever reach this.
const StartTimeout = 2 * time.Minute

// dynaliteWatchdog runs dynalite's own cli.js, but first makes node exit when
// its stdin closes. The test binary holds the other end of that pipe, so a
// test binary that dies without running its cleanups (a panic, `go test
// -timeout`) still takes dynalite with it instead of leaving it listening.
// With -e, process.argv is [node, cli.js, flags...], just as cli.js expects.
const dynaliteWatchdog = `process.stdin.on("end", () => process.exit(0)); process.stdin.resume(); require(process.argv[1]);`

// Dynalite starts a dynalite server on a free loopback port for the rest of
// the test and returns its endpoint URL, such as "http://127.0.0.1:41234".
// The server is killed at t.Cleanup. Each call starts its own server; share
// one per test package by creating a table per test on it.
func Dynalite(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	srv, err := StartDynalite(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Errorf("stop dynalite: %v", err)
		}
	})
	return srv.URL
}

// DynaliteServer is a running dynalite process. Use it from TestMain, where
// no testing.TB exists; tests use Dynalite.
type DynaliteServer struct {
	URL string // endpoint, such as "http://127.0.0.1:41234"

	server *server
}

// StartDynalite starts dynalite on a free loopback port and returns once it
// listens. ctx bounds only the start; Close stops the server.
func StartDynalite(ctx context.Context) (*DynaliteServer, error) {
	cli, err := dynaliteCLI()
	if err != nil {
		return nil, err
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("start dynalite: node (Node.js 20) is not on PATH: %w", err)
	}
	srv, err := startServer(ctx, serverKind{
		name: "dynalite",
		// cli.js treats --port 0 as "use the default 4567", so startServer
		// picks the port.
		command: func(port int) *exec.Cmd {
			return exec.Command(node, "-e", dynaliteWatchdog, cli,
				"--port", strconv.Itoa(port), "--host", "127.0.0.1",
				"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0")
		},
		// dynalite prints its banner from the listen callback.
		banner:    func(string) string { return "Dynalite listening at" },
		addrInUse: []string{"EADDRINUSE"},
	})
	if err != nil {
		return nil, err
	}
	return &DynaliteServer{URL: srv.url, server: srv}, nil
}

// Close kills dynalite and waits for it to exit.
func (s *DynaliteServer) Close() error { return s.server.Close() }

// dynaliteCLI finds node_modules/dynalite/cli.js at the repository root,
// which is the nearest directory above the working directory with a go.mod.
func dynaliteCLI() (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	cli := filepath.Join(root, "node_modules", "dynalite", "cli.js")
	if _, err := os.Stat(cli); err != nil {
		return "", fmt.Errorf("dynalite is not installed (%s is missing): run `make test` (npm ci installs dynalite)", cli)
	}
	return cli, nil
}

// RepoRoot is the nearest directory above the working directory that holds
// a go.mod: the repository root.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find repository root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find repository root: no go.mod above the working directory")
		}
		dir = parent
	}
}

// AWSConfig is a configuration for a client of the local server at endpoint:
// region us-east-1, static test credentials. Only the state package's own
// tests use it; the Lambda's end-to-end tests configure the SDK through the
// environment, as in production.
func AWSConfig(endpoint string) aws.Config {
	return aws.Config{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(endpoint),
		HTTPClient:   HTTPClient(),
	}
}

// CreateTable creates a PAY_PER_REQUEST table with the string hash key "pk"
// (labelwatch's state table) and waits until it is active.
func CreateTable(t testing.TB, client *dynamodb.Client, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), StartTimeout)
	defer cancel()
	if err := CreateStateTable(ctx, client, name); err != nil {
		t.Fatal(err)
	}
}

// CreateStateTable is CreateTable for programs without a testing.TB, such as
// the benchmark.
func CreateStateTable(ctx context.Context, client *dynamodb.Client, name string) error {
	_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
	})
	if err != nil {
		return fmt.Errorf("create table %q: %w", name, err)
	}
	// dynalite started with --createTableMs 0 is active almost at once; the
	// short delays keep the waiter from sleeping its default 20 s.
	waiter := dynamodb.NewTableExistsWaiter(client, func(o *dynamodb.TableExistsWaiterOptions) {
		o.MinDelay = 10 * time.Millisecond
		o.MaxDelay = 200 * time.Millisecond
	})
	if err := waiter.Wait(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}, StartTimeout); err != nil {
		return fmt.Errorf("wait for table %q: %w", name, err)
	}
	return nil
}
