// Command corq-bench is the Go binding's cost per message, beside C and the other bindings (the
// bindings benchmark runs them all in the same rounds; the C baseline is bench/bindings/c_bench.c).
//
// One goroutine, an in-memory engine, the transient queue "bench", a consumer with prefetch 256,
// 64-byte messages, N/64 rounds of:
//   - single: 64 × Engine.Publish, then 64 × Consumer.Poll(1) (corq_consume with timeout 0) and
//     Delivery.Ack;
//   - batch: one Producer.Send of 64, Consumer.Poll until 64 are taken, one Consumer.AckUpto;
//   - single-ctx (extra): single, but each consume is Consumer.Consume with a cancellable context,
//     so that a watcher goroutine guards the wait: the price of cancellation.
//
// After an untimed warm-up of min(N/10, 10000) messages, it prints one JSON line per mode:
// {"binding":"go","mode":"single","messages":N,"seconds":S}.
//
// Usage: corq-bench [--mode single|batch|both|single-ctx|all] [--messages N] (N a positive
// multiple of 64; both is single and batch; default both, 200000). Exit status: 0; 1 on a corq
// error (named on stderr); 2 on a bad argument.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"corq.dev/corq"
)

const (
	round        = 64
	prefetch     = 256
	payloadBytes = 64
	warmUpMax    = 10000
)

var payload = make([]byte, payloadBytes)

type bench struct {
	engine   *corq.Engine
	consumer *corq.Consumer
	producer *corq.Producer
}

var errNotReady = errors.New("a published message was not ready")

func (b *bench) single(messages int) error {
	ctx := context.Background()
	msg := corq.Message{Data: payload}
	for r := 0; r < messages/round; r++ {
		for i := 0; i < round; i++ {
			if _, err := b.engine.Publish(ctx, "bench", msg, nil); err != nil {
				return err
			}
		}
		for i := 0; i < round; i++ {
			ds, err := b.consumer.Poll(1)
			if err != nil {
				return err
			}
			if len(ds) != 1 {
				return errNotReady
			}
			if err := ds[0].Ack(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (b *bench) singleCtx(messages int) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	msg := corq.Message{Data: payload}
	for r := 0; r < messages/round; r++ {
		for i := 0; i < round; i++ {
			if _, err := b.engine.Publish(ctx, "bench", msg, nil); err != nil {
				return err
			}
		}
		for i := 0; i < round; i++ {
			ds, err := b.consumer.Consume(ctx, 1)
			if err != nil {
				return err
			}
			if err := ds[0].Ack(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (b *bench) batch(messages int) error {
	ctx := context.Background()
	batch := make([]corq.Message, round)
	for i := range batch {
		batch[i] = corq.Message{Data: payload}
	}
	for r := 0; r < messages/round; r++ {
		if _, err := b.producer.Send(ctx, batch, nil); err != nil {
			return err
		}
		var last uint64
		for taken := 0; taken < round; {
			ds, err := b.consumer.Poll(round - taken)
			if err != nil {
				return err
			}
			if len(ds) == 0 {
				return errNotReady
			}
			taken += len(ds)
			last = ds[len(ds)-1].Tag
		}
		if err := b.consumer.AckUpto(last); err != nil {
			return err
		}
	}
	return nil
}

type result struct {
	Binding  string  `json:"binding"`
	Mode     string  `json:"mode"`
	Messages int     `json:"messages"`
	Seconds  float64 `json:"seconds"`
}

func run(modes []string, messages int) error {
	engine, err := corq.OpenMemory(nil)
	if err != nil {
		return err
	}
	defer engine.Close()
	// max_length 8192: the ready ring's first lap (page faults) falls in the warm-up, as in
	// bench/bindings/c_bench.c.
	if err := engine.DeclareQueue("bench", corq.Options{"max_length": "8192"}); err != nil {
		return err
	}
	b := &bench{engine: engine}
	if b.consumer, err = engine.NewConsumer("bench", prefetch); err != nil {
		return err
	}
	defer b.consumer.Close()
	if b.producer, err = engine.NewProducer("bench"); err != nil {
		return err
	}
	defer b.producer.Close()
	runs := map[string]func(int) error{"single": b.single, "batch": b.batch, "single-ctx": b.singleCtx}
	warmUp := messages / 10
	if warmUp > warmUpMax {
		warmUp = warmUpMax
	}
	warmUp = warmUp / round * round
	for _, mode := range modes {
		if err := runs[mode](warmUp); err != nil {
			return fmt.Errorf("%s warm-up: %w", mode, err)
		}
		start := time.Now()
		if err := runs[mode](messages); err != nil {
			return fmt.Errorf("%s: %w", mode, err)
		}
		line, _ := json.Marshal(result{"go", mode, messages, time.Since(start).Seconds()})
		fmt.Println(string(line))
	}
	return nil
}

func usage(flag, value string) int {
	fmt.Fprintf(os.Stderr, "corq-bench: bad argument '%s %s' (usage: --mode "+
		"single|batch|both|single-ctx|all --messages N, N a positive multiple of 64)\n", flag, value)
	return 2
}

func main() { os.Exit(mainCode(os.Args[1:])) }

func mainCode(args []string) int {
	modes := []string{"single", "batch"}
	messages := 200000
	for i := 0; i < len(args); i += 2 {
		value := ""
		if i+1 < len(args) {
			value = args[i+1]
		}
		switch {
		case args[i] == "--mode" && value == "both":
			modes = []string{"single", "batch"}
		case args[i] == "--mode" && value == "all":
			modes = []string{"single", "batch", "single-ctx"}
		case args[i] == "--mode" && (value == "single" || value == "batch" || value == "single-ctx"):
			modes = []string{value}
		case args[i] == "--messages":
			n, err := strconv.Atoi(value)
			if err != nil || n <= 0 || n%round != 0 {
				return usage(args[i], value)
			}
			messages = n
		default:
			return usage(args[i], value)
		}
	}
	if err := run(modes, messages); err != nil {
		fmt.Fprintf(os.Stderr, "corq-bench: %v\n", err)
		return 1
	}
	return 0
}
