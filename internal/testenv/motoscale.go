package testenv

import (
	"context"
	"testing"
)

// motoAtScaleApp is motoSerialApp with one change to moto's DynamoDB: what a
// TransactWriteItems keeps to roll back to. moto 5.2.1 deep-copies each
// table a transaction writes, once for every item of the transaction, so a
// transaction of 100 claims in a table of N items copies 100 × N items: 1.4 s
// of moto's CPU a transaction at 300 items, minutes at 10,000. Here the
// first of those copies is a shallow one of the table whose item map is a
// new map, holding deep copies of the items the transaction names and the
// very items of the others, and the later ones are that copy again. Served
// one request at a time, nothing but the transaction writes the table while
// it runs, so rolling back to that copy restores the table as moto's own
// copy would. Every other deep copy of moto's DynamoDB is left as it is.
// Its arguments are the host and the port.
const motoAtScaleApp = `import copy, sys
from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
import moto.dynamodb.models as models
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table

class Snapshots:
    """Stands for the copy module in moto.dynamodb.models while one transaction runs."""
    def __init__(self, backend, transact_items):
        self.named, self.made = {}, {}
        for item in transact_items:
            _, op = next(iter(item.items()))
            table = backend.tables.get(op.get("TableName"))
            attrs = op.get("Item") or op.get("Key") or {}
            if table is not None and table.hash_key_attr in attrs:
                self.named.setdefault(table.name, set()).add(DynamoType(attrs[table.hash_key_attr]))
    def deepcopy(self, x, memo=None):
        if not isinstance(x, Table):
            return copy.deepcopy(x, memo)
        snap = self.made.get(id(x))
        if snap is None:
            snap = copy.copy(x)
            snap.items = copy.copy(x.items)
            for key in self.named.get(x.name, ()):
                if key in x.items:
                    snap.items[key] = copy.deepcopy(x.items[key])
            self.made[id(x)] = snap
        return snap

transact = models.DynamoDBBackend.transact_write_items
def transact_write_items(self, transact_items):
    models.copy = Snapshots(self, transact_items)
    try:
        return transact(self, transact_items)
    finally:
        models.copy = copy
models.DynamoDBBackend.transact_write_items = transact_write_items

run_simple(sys.argv[1], int(sys.argv[2]), DomainDispatcherApplication(create_backend_app), threaded=False)`

// StartMotoSerialAtScale is StartMotoSerial for tables of thousands of
// items: its moto keeps, for a transaction's rollback, only what the
// transaction writes (see motoAtScaleApp), so that a TransactWriteItems
// costs moto what its items do, not what the table holds. The benchmark's
// storms run on it.
func StartMotoSerialAtScale(ctx context.Context) (*MotoServer, error) {
	return startMotoApp(ctx, "moto (serial, at scale)", motoAtScaleApp)
}

// MotoSerialAtScale is MotoSerial with StartMotoSerialAtScale's moto.
// Without moto it skips the test as Moto does, and fails it under CI=true.
func MotoSerialAtScale(t testing.TB) string { return motoFor(t, StartMotoSerialAtScale) }
