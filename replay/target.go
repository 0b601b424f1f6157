package replay

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"

	"github.com/go-sql-driver/mysql"

	"github.com/seckill/seckill/schema"
)

var databaseName = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)

// OpenTarget creates the database name on the server of dsn when missing, opens it and applies schema.Migrate:
// the target of a replay that leaves the live tables alone. Calling it again on an existing database is safe.
// The caller closes the returned handle.
func OpenTarget(ctx context.Context, dsn, name string) (*sql.DB, error) {
	if !databaseName.MatchString(name) {
		return nil, fmt.Errorf("replay target %q: want 1 to 64 letters, digits or '_'", name)
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("replay target %s: %w", name, err)
	}
	cfg.DBName = ""
	server, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return nil, fmt.Errorf("replay target %s: %w", name, err)
	}
	_, err = server.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS "+name)
	_ = server.Close()
	if err != nil {
		return nil, fmt.Errorf("replay target %s: create database: %w", name, err)
	}
	cfg.DBName = name
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		return nil, fmt.Errorf("replay target %s: %w", name, err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	if err := schema.Migrate(ctx, db); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("replay target %s: %w", name, err)
	}
	return db, nil
}
