package corq_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"
	"time"

	"corq.dev/corq"
)

// A work queue: a producer sends four jobs as one atomic batch; a worker acks the good ones and
// nacks the poison one, which is retried after the queue's backoff and, after max_attempts,
// dead-lettered to jobs.dlq with x-death-* headers.
func Example_workQueue() {
	ctx := context.Background()
	engine, err := corq.OpenMemory(nil) // corq.Open(dir, nil) for durable queues
	if err != nil {
		log.Fatal(err)
	}
	defer engine.Close()
	err = engine.DeclareQueue("jobs", corq.Options{"max_attempts": "3", "retry_delay_ms": "5"})
	if err != nil {
		log.Fatal(err)
	}

	producer, err := engine.NewProducer("jobs")
	if err != nil {
		log.Fatal(err)
	}
	defer producer.Close()
	var batch []corq.Message
	for _, job := range []string{"resize 1.png", "resize 2.png", "poison", "resize 3.png"} {
		batch = append(batch, corq.Message{Data: []byte(job)})
	}
	if _, err := producer.Send(ctx, batch, nil); err != nil {
		log.Fatal(err)
	}

	consumer, err := engine.NewConsumer("jobs", 4)
	if err != nil {
		log.Fatal(err)
	}
	defer consumer.Close()
	for finished := 0; finished < len(batch); {
		wait, cancel := context.WithTimeout(ctx, 5*time.Second)
		deliveries, err := consumer.Consume(wait, 4) // waits for at least one
		cancel()
		if err != nil {
			log.Fatal(err)
		}
		for i := range deliveries {
			job := &deliveries[i]
			if string(job.Data) == "poison" {
				fmt.Printf("failed %s (attempt %d)\n", job.Data, job.DeliveryCount)
				if err := job.Nack(corq.Backoff); err != nil { // retry later, or dead-letter
					log.Fatal(err)
				}
				if job.DeliveryCount == 3 {
					finished++
				}
				continue
			}
			fmt.Printf("done %s\n", job.Data)
			if err := job.Ack(); err != nil {
				log.Fatal(err)
			}
			finished++
		}
	}

	dead, err := engine.NewConsumer("jobs.dlq", 1)
	if err != nil {
		log.Fatal(err)
	}
	defer dead.Close()
	letters, err := dead.Poll(1)
	if err != nil {
		log.Fatal(err)
	}
	reason, _ := letters[0].Headers.Get("x-death-reason")
	fmt.Printf("dead letter: %s (%s)\n", letters[0].Data, reason)
	// Output:
	// done resize 1.png
	// done resize 2.png
	// failed poison (attempt 1)
	// done resize 3.png
	// failed poison (attempt 2)
	// failed poison (attempt 3)
	// dead letter: poison (max_attempts)
}

// Pub/sub through a topic exchange: one publish is fanned out, atomically and with one message id,
// to every queue whose binding pattern matches its routing key ('*' one word, '#' zero or more).
// Under Mandatory, an event nobody subscribes to is refused instead of dropped.
func Example_pubSub() {
	ctx := context.Background()
	engine, err := corq.OpenMemory(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer engine.Close()
	if err := engine.DeclareExchange("orders", corq.ExchangeTopic, nil); err != nil {
		log.Fatal(err)
	}
	subscribers := []struct{ queue, pattern string }{
		{"inventory", "order.*"}, {"email", "order.placed"}, {"analytics", "order.#"},
	}
	for _, s := range subscribers {
		if err := engine.DeclareQueue(s.queue, nil); err != nil {
			log.Fatal(err)
		}
		if err := engine.Bind("orders", s.queue, s.pattern, nil); err != nil {
			log.Fatal(err)
		}
	}

	mandatory := &corq.PublishOptions{Mandatory: true}
	for _, key := range []string{"order.placed", "order.shipped.express", "invoice.paid"} {
		event := corq.Message{Data: []byte(`{"order": 1042}`)}
		published, err := engine.PublishExchange(ctx, "orders", key, event, mandatory)
		if errors.Is(err, corq.ErrUnroutable) {
			fmt.Printf("%s: nobody subscribes\n", key)
			continue
		} else if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: %d queues\n", key, published.Routed)
	}

	for _, s := range subscribers {
		consumer, err := engine.NewConsumer(s.queue, 16)
		if err != nil {
			log.Fatal(err)
		}
		events, err := consumer.Poll(16)
		if err != nil {
			log.Fatal(err)
		}
		var keys []string
		for i := range events {
			key, _ := events[i].Headers.Get("x-routing-key")
			keys = append(keys, string(key))
			if err := events[i].Ack(); err != nil {
				log.Fatal(err)
			}
		}
		fmt.Printf("%s got %s\n", s.queue, strings.Join(keys, ", "))
		consumer.Close()
	}
	// Output:
	// order.placed: 3 queues
	// order.shipped.express: 1 queues
	// invoice.paid: nobody subscribes
	// inventory got order.placed
	// email got order.placed
	// analytics got order.placed, order.shipped.express
}

// Request-reply: a responder goroutine answers requests from a queue; Request waits for the
// response until its context's deadline.
func Example_requestReply() {
	engine, err := corq.OpenMemory(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer engine.Close()
	if err := engine.DeclareQueue("prices", nil); err != nil {
		log.Fatal(err)
	}
	responder, err := engine.NewConsumer("prices", 8)
	if err != nil {
		log.Fatal(err)
	}
	serving, stop := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() {
		defer close(served)
		for {
			requests, err := responder.Consume(serving, 8)
			if err != nil {
				return // stop() cancelled the wait
			}
			for i := range requests {
				answer := "price of " + string(requests[i].Data) + ": 42"
				if err := requests[i].Respond(corq.Message{Data: []byte(answer)}); err != nil {
					log.Fatal(err)
				}
			}
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	reply, err := engine.Request(ctx, "", "prices", corq.Message{Data: []byte("apples")})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(reply.Data))
	stop()
	<-served
	responder.Close()
	// Output: price of apples: 42
}

// Streams: a retained, partitioned log. A key picks the partition (Kafka's partitioner); a reader
// replays a partition from any offset and follows its tail.
func Example_streams() {
	ctx := context.Background()
	engine, err := corq.OpenMemory(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer engine.Close()
	if err := engine.DeclareStream("clicks", corq.Options{"partitions": "3"}); err != nil {
		log.Fatal(err)
	}
	var at corq.Appended
	for _, page := range []string{"home", "cart", "checkout"} {
		at, err = engine.Append(ctx, "clicks", []byte("user-42"), corq.Message{Data: []byte(page)}, nil)
		if err != nil {
			log.Fatal(err)
		}
	}
	reader, err := engine.NewStreamReader("clicks", at.Partition, corq.StartEarliest)
	if err != nil {
		log.Fatal(err)
	}
	defer reader.Close()
	wait, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	records, err := reader.Read(wait, 10)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range records {
		fmt.Printf("offset %d: %s %s\n", r.Offset, r.Key, r.Data)
	}
	// Output:
	// offset 0: user-42 home
	// offset 1: user-42 cart
	// offset 2: user-42 checkout
}

// Transactions: consume an order, publish its invoice, append to a ledger and ack the order — all
// applied at Commit, or none of it.
func Example_transaction() {
	ctx := context.Background()
	engine, err := corq.OpenMemory(nil)
	if err != nil {
		log.Fatal(err)
	}
	defer engine.Close()
	for _, q := range []string{"orders", "invoices"} {
		if err := engine.DeclareQueue(q, nil); err != nil {
			log.Fatal(err)
		}
	}
	if err := engine.DeclareStream("ledger", nil); err != nil {
		log.Fatal(err)
	}
	if _, err := engine.Publish(ctx, "orders", corq.Message{Data: []byte("order 42")}, nil); err != nil {
		log.Fatal(err)
	}

	orders, err := engine.NewConsumer("orders", 16)
	if err != nil {
		log.Fatal(err)
	}
	defer orders.Close()
	batch, err := orders.Poll(16)
	if err != nil {
		log.Fatal(err)
	}
	for i := range batch {
		order := &batch[i]
		txn, err := engine.Begin()
		if err != nil {
			log.Fatal(err)
		}
		invoice := corq.Message{Data: append([]byte("invoice for "), order.Data...)}
		if err := txn.Publish("", "invoices", invoice, nil); err != nil { // "": the queue named
			txn.Abort()
			log.Fatal(err)
		}
		if err := txn.Append("ledger", []byte("customer-7"), corq.Message{Data: order.Data}, nil); err != nil {
			txn.Abort()
			log.Fatal(err)
		}
		if err := txn.Ack(order); err != nil {
			txn.Abort()
			log.Fatal(err)
		}
		if err := txn.Commit(ctx); err != nil { // all three, or none
			log.Fatal(err)
		}
	}
	ordersStats, _ := engine.QueueStats("orders")
	invoiceStats, _ := engine.QueueStats("invoices")
	ledgerStats, _ := engine.StreamStats("ledger")
	fmt.Println(ordersStats.Acked, invoiceStats.Ready, ledgerStats.Records)
	// Output: 1 1 1
}
