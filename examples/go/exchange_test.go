package corq_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"corq.dev/corq"
)

func pubX(t *testing.T, e *corq.Engine, exchange, key string, msg corq.Message) corq.Published {
	t.Helper()
	p, err := e.PublishExchange(context.Background(), exchange, key, msg, nil)
	if err != nil {
		t.Fatalf("PublishExchange(%q, %q): %v", exchange, key, err)
	}
	return p
}

func ready(t *testing.T, e *corq.Engine, queue string) uint64 {
	t.Helper()
	return stats(t, e, queue).Ready
}

func TestFanoutSharesOneMessageIDAcrossItsQueues(t *testing.T) {
	e := memEngine(t, nil)
	if err := e.DeclareExchange("all", corq.ExchangeFanout, nil); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"a", "b", "c"} {
		declare(t, e, q, nil)
		if err := e.Bind("all", q, "ignored", nil); err != nil {
			t.Fatal(err)
		}
	}
	p := pubX(t, e, "all", "any", corq.Message{Data: []byte("m")})
	if p.Routed != 3 {
		t.Fatalf("routed %d", p.Routed)
	}
	for _, q := range []string{"a", "b", "c"} {
		d := consumeOne(t, consumer(t, e, q, 1))
		if d.MessageID != p.MessageID || string(d.Data) != "m" {
			t.Errorf("%s: %+v", q, d)
		}
		if v, _ := d.Headers.Get("x-exchange"); string(v) != "all" {
			t.Errorf("%s: x-exchange %q", q, v)
		}
	}
	s, err := e.ExchangeStats("all")
	if err != nil || s.Bindings != 3 || s.Published != 1 || s.Routed != 3 {
		t.Fatalf("ExchangeStats %+v %v", s, err)
	}
}

func TestDirectAndTopicExchangesRouteByKeyAndPattern(t *testing.T) {
	e := memEngine(t, nil)
	if err := e.DeclareExchange("d", corq.ExchangeDirect, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.DeclareExchange("t", corq.ExchangeTopic, nil); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"red", "star", "hash", "exact"} {
		declare(t, e, q, nil)
	}
	for _, b := range [][3]string{{"d", "red", "red"}, {"t", "star", "a.*"}, {"t", "hash", "a.#"}, {"t", "exact", "a.b"}} {
		if err := e.Bind(b[0], b[1], b[2], nil); err != nil {
			t.Fatal(err)
		}
	}
	if p := pubX(t, e, "d", "red", corq.Message{}); p.Routed != 1 {
		t.Errorf("direct red: %d", p.Routed)
	}
	if p := pubX(t, e, "d", "blue", corq.Message{}); p.Routed != 0 {
		t.Errorf("direct blue: %d", p.Routed)
	}
	for key, want := range map[string]uint32{"a.b": 3, "a.c": 2, "a": 1, "a.b.c": 1, "b.a": 0} {
		if p := pubX(t, e, "t", key, corq.Message{}); p.Routed != want {
			t.Errorf("topic %q: routed %d, want %d", key, p.Routed, want)
		}
	}
	if got := [4]uint64{ready(t, e, "red"), ready(t, e, "star"), ready(t, e, "hash"), ready(t, e, "exact")}; got != [4]uint64{1, 2, 4, 1} {
		t.Errorf("ready %v", got)
	}
	if s, _ := e.ExchangeStats("d"); s.Unroutable != 1 {
		t.Errorf("unroutable %+v", s)
	}
}

func TestHeadersExchangeMatchesArgumentsWithPresenceOnlyValues(t *testing.T) {
	e := memEngine(t, nil)
	if err := e.DeclareExchange("h", corq.ExchangeHeaders, nil); err != nil {
		t.Fatal(err)
	}
	declare(t, e, "all", nil)
	declare(t, e, "any", nil)
	all := []corq.Header{{Key: "format", Value: []byte("pdf")}, {Key: "urgent", Value: nil}}
	anyArgs := []corq.Header{{Key: "x-match", Value: []byte("any")}, {Key: "format", Value: []byte("pdf")}, {Key: "lang", Value: []byte("fr")}}
	if err := e.Bind("h", "all", "", all); err != nil {
		t.Fatal(err)
	}
	if err := e.Bind("h", "any", "", anyArgs); err != nil {
		t.Fatal(err)
	}
	pdfUrgent := corq.Headers{{Key: "format", Value: []byte("pdf")}, {Key: "urgent", Value: []byte("whatever")}}
	if p := pubX(t, e, "h", "", corq.Message{Headers: pdfUrgent}); p.Routed != 2 {
		t.Errorf("pdf+urgent: %d", p.Routed)
	}
	if p := pubX(t, e, "h", "", corq.Message{Headers: corq.Headers{{Key: "lang", Value: []byte("fr")}}}); p.Routed != 1 {
		t.Errorf("lang=fr: %d", p.Routed)
	}
	if p := pubX(t, e, "h", "", corq.Message{Headers: corq.Headers{{Key: "format", Value: []byte("pdf")}}}); p.Routed != 1 {
		t.Errorf("pdf without urgent: %d", p.Routed)
	}
	// Unbind matches the arguments too: other arguments are another binding.
	wantErr(t, e.Unbind("h", "all", "", all[:1]), corq.ErrNotFound, "corq_unbind", "")
	if err := e.Unbind("h", "all", "", all); err != nil {
		t.Fatal(err)
	}
	if p := pubX(t, e, "h", "", corq.Message{Headers: pdfUrgent}); p.Routed != 1 {
		t.Errorf("after unbind: %d", p.Routed)
	}
	err := e.Bind("h", "all", "", []corq.Header{{Key: "x-match", Value: []byte("most")}})
	wantErr(t, err, corq.ErrInvalid, "corq_bind", "")
	err = e.Bind("h", "all", "", []corq.Header{{Key: "a\x00b"}})
	wantErr(t, err, corq.ErrInvalid, "corq_bind", "NUL")
}

func TestExchangeToExchangeBindingForwardsUntilUnbound(t *testing.T) {
	e := memEngine(t, nil)
	if err := e.DeclareExchange("front", corq.ExchangeFanout, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.DeclareExchange("back", corq.ExchangeDirect, nil); err != nil {
		t.Fatal(err)
	}
	declare(t, e, "q", nil)
	if err := e.Bind("back", "q", "k", nil); err != nil {
		t.Fatal(err)
	}
	if err := e.BindExchange("front", "back", "", nil); err != nil {
		t.Fatal(err)
	}
	if p := pubX(t, e, "front", "k", corq.Message{}); p.Routed != 1 {
		t.Fatalf("through two exchanges: %d", p.Routed)
	}
	if err := e.UnbindExchange("front", "back", "", nil); err != nil {
		t.Fatal(err)
	}
	if p := pubX(t, e, "front", "k", corq.Message{}); p.Routed != 0 {
		t.Fatalf("after unbind: %d", p.Routed)
	}
	wantErr(t, e.UnbindExchange("front", "back", "", nil), corq.ErrNotFound, "corq_exchange_unbind", "")
	wantErr(t, e.BindExchange("front", "missing", "", nil), corq.ErrNotFound, "corq_exchange_bind", "")
}

func TestUnroutableIsDroppedAndCountedOrUnderMandatoryRefused(t *testing.T) {
	e := memEngine(t, nil)
	if err := e.DeclareExchange("x", corq.ExchangeDirect, nil); err != nil {
		t.Fatal(err)
	}
	if p := pubX(t, e, "x", "nobody", corq.Message{}); p.Routed != 0 {
		t.Fatalf("routed %d", p.Routed)
	}
	_, err := e.PublishExchange(context.Background(), "x", "nobody", corq.Message{}, &corq.PublishOptions{Mandatory: true})
	wantErr(t, err, corq.ErrUnroutable, "corq_exchange_publish", "")
	if s, _ := e.ExchangeStats("x"); s.Unroutable != 2 {
		t.Errorf("stats %+v", s)
	}
}

func TestAlternateExchangeTakesWhatTheExchangeCannotRoute(t *testing.T) {
	e := memEngine(t, nil)
	if err := e.DeclareExchange("x", corq.ExchangeDirect, corq.Options{"alternate_exchange": "ae"}); err != nil {
		t.Fatal(err)
	}
	if err := e.DeclareExchange("ae", corq.ExchangeFanout, nil); err != nil {
		t.Fatal(err)
	}
	declare(t, e, "lost", nil)
	if err := e.Bind("ae", "lost", "", nil); err != nil {
		t.Fatal(err)
	}
	if p := pubX(t, e, "x", "nobody", corq.Message{}); p.Routed != 1 {
		t.Fatalf("routed %d", p.Routed)
	}
	if s, _ := e.ExchangeStats("x"); s.Alternated != 1 {
		t.Errorf("stats %+v", s)
	}
}

func TestInternalExchangeRefusesDirectPublishes(t *testing.T) {
	e := memEngine(t, nil)
	if err := e.DeclareExchange("inner", corq.ExchangeFanout, corq.Options{"internal": "true"}); err != nil {
		t.Fatal(err)
	}
	_, err := e.PublishExchange(context.Background(), "inner", "", corq.Message{}, nil)
	wantErr(t, err, corq.ErrInvalid, "corq_exchange_publish", "internal")
}

func TestTheDefaultExchangePublishesToTheQueueTheKeyNames(t *testing.T) {
	e := memEngine(t, nil)
	declare(t, e, "q", nil)
	if p := pubX(t, e, "", "q", corq.Message{Data: []byte("m")}); p.Routed != 1 {
		t.Fatalf("routed %d", p.Routed)
	}
	_, err := e.PublishExchange(context.Background(), "", "missing", corq.Message{}, nil)
	wantErr(t, err, corq.ErrNotFound, "corq_exchange_publish", "")
	_, err = e.PublishExchange(context.Background(), "", "missing", corq.Message{}, &corq.PublishOptions{Mandatory: true})
	wantErr(t, err, corq.ErrUnroutable, "corq_exchange_publish", "")
	wantErr(t, e.DeclareExchange("", corq.ExchangeDirect, nil), corq.ErrInvalid, "corq_exchange_declare", "")
	wantErr(t, e.DeleteExchange(""), corq.ErrInvalid, "corq_exchange_delete", "")
	wantErr(t, e.Bind("", "q", "q", nil), corq.ErrInvalid, "corq_bind", "")
}

func TestAFullTargetFailsTheWholePublish(t *testing.T) {
	e := memEngine(t, nil)
	if err := e.DeclareExchange("x", corq.ExchangeFanout, nil); err != nil {
		t.Fatal(err)
	}
	declare(t, e, "roomy", nil)
	declare(t, e, "tight", corq.Options{"max_length": "1", "overflow": "reject"})
	for _, q := range []string{"roomy", "tight"} {
		if err := e.Bind("x", q, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	pubX(t, e, "x", "", corq.Message{})
	_, err := e.PublishExchange(context.Background(), "x", "", corq.Message{}, nil)
	wantErr(t, err, corq.ErrFull, "corq_exchange_publish", "")
	if ready(t, e, "roomy") != 1 {
		t.Fatal("a refused publish reached a queue")
	}
}

func TestPublishOptionsReachEveryCopy(t *testing.T) {
	e := memEngine(t, nil)
	if err := e.DeclareExchange("x", corq.ExchangeFanout, nil); err != nil {
		t.Fatal(err)
	}
	declare(t, e, "a", nil)
	declare(t, e, "p", corq.Options{"max_priority": "5"})
	for _, q := range []string{"a", "p"} {
		if err := e.Bind("x", q, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	if _, err := e.PublishExchange(ctx, "x", "", corq.Message{Data: []byte("later")}, &corq.PublishOptions{Delay: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if s := stats(t, e, "a"); s.Delayed != 1 {
		t.Fatalf("delay did not reach the copy: %+v", s)
	}
	for _, pri := range []int32{1, 4, 2} {
		if _, err := e.Publish(ctx, "p", corq.Message{Data: []byte{byte('0' + pri)}}, &corq.PublishOptions{Priority: pri}); err != nil {
			t.Fatal(err)
		}
	}
	c := consumer(t, e, "p", 8)
	var order []string
	for i := 0; i < 3; i++ {
		order = append(order, string(consumeOne(t, c).Data))
	}
	if strings.Join(order, "") != "421" {
		t.Fatalf("priority order %v", order)
	}
}

func TestTTLExpiresIntoTheDeadLetterQueue(t *testing.T) {
	e := memEngine(t, nil)
	declare(t, e, "q", nil)
	_, err := e.Publish(context.Background(), "q", corq.Message{Data: []byte("stale")}, &corq.PublishOptions{TTL: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(60 * time.Millisecond)
	c := consumer(t, e, "q", 1)
	if ds, err := c.Poll(1); err != nil || len(ds) != 0 {
		t.Fatalf("an expired message was delivered: %v %v", ds, err)
	}
	dl := consumeOne(t, consumer(t, e, "q.dlq", 1))
	if v, _ := dl.Headers.Get("x-death-reason"); string(v) != "expired" {
		t.Fatalf("reason %q", v)
	}
}

func TestExchangeDeclareDeleteAndBadInput(t *testing.T) {
	e := memEngine(t, nil)
	if err := e.DeclareExchange("x", corq.ExchangeTopic, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.DeclareExchange("x", corq.ExchangeTopic, nil); err != nil {
		t.Fatalf("idempotent redeclare: %v", err)
	}
	wantErr(t, e.DeclareExchange("x", corq.ExchangeFanout, nil), corq.ErrExists, "corq_exchange_declare", "")
	wantErr(t, e.DeclareExchange("y", corq.ExchangeType("sideways"), nil), corq.ErrInvalid, "corq_exchange_declare", "sideways")
	wantErr(t, e.DeclareExchange("y", corq.ExchangeTopic, corq.Options{"colour": "blue"}), corq.ErrInvalid, "corq_exchange_declare", "colour")
	wantErr(t, e.DeclareExchange("y", corq.ExchangeTopic, corq.Options{"internal": "perhaps"}), corq.ErrInvalid, "corq_exchange_declare", "")
	declare(t, e, "q", nil)
	wantErr(t, e.Bind("missing", "q", "k", nil), corq.ErrNotFound, "corq_bind", "")
	wantErr(t, e.Bind("x", "missing", "k", nil), corq.ErrNotFound, "corq_bind", "")
	wantErr(t, e.Bind("x", "q", strings.Repeat("k", 256), nil), corq.ErrInvalid, "corq_bind", "")
	wantErr(t, e.Bind("x", "q", "a\x00", nil), corq.ErrInvalid, "corq_bind", "binding key")
	_, err := e.PublishExchange(context.Background(), "x", strings.Repeat("k", 256), corq.Message{}, nil)
	wantErr(t, err, corq.ErrInvalid, "corq_exchange_publish", "")
	_, err = e.PublishExchange(context.Background(), "missing", "k", corq.Message{}, nil)
	wantErr(t, err, corq.ErrNotFound, "corq_exchange_publish", "")
	_, err = e.ExchangeStats("missing")
	wantErr(t, err, corq.ErrNotFound, "corq_exchange_stats_get", "")
	if err := e.Bind("x", "q", "#", nil); err != nil {
		t.Fatal(err)
	}
	if err := e.DeleteExchange("x"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, e.DeleteExchange("x"), corq.ErrNotFound, "corq_exchange_delete", "")
	_, err = e.PublishExchange(context.Background(), "x", "k", corq.Message{}, nil)
	wantErr(t, err, corq.ErrNotFound, "corq_exchange_publish", "")
	text, _ := e.StatsJSON()
	if !strings.Contains(text, "exchanges") {
		t.Errorf("StatsJSON has no exchanges: %s", text)
	}
}

// ---- request-reply ------------------------------------------------------------------------------

func serve(t *testing.T, e *corq.Engine, queue string, answer func(d *corq.Delivery) corq.Message) {
	c := consumer(t, e, queue, 8)
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			ds, err := c.Consume(ctx, 8)
			if err != nil {
				return
			}
			for i := range ds {
				if err := ds[i].Respond(answer(&ds[i])); err != nil {
					t.Error(err)
				}
			}
		}
	}()
	t.Cleanup(func() { stop(); <-done })
}

func TestRequestGetsTheResponseWithItsCorrelationID(t *testing.T) {
	e := memEngine(t, nil)
	declare(t, e, "echo", nil)
	serve(t, e, "echo", func(d *corq.Delivery) corq.Message {
		replyTo, _ := d.Headers.Get("x-reply-to")
		return corq.Message{Data: append([]byte("echo: "), d.Data...),
			Headers: corq.Headers{{Key: "reply-to-was", Value: replyTo}}}
	})
	for i := 0; i < 3; i++ {
		reply, err := e.Request(ctxLong(t), "", "echo", corq.Message{Data: []byte("hi")})
		if err != nil {
			t.Fatal(err)
		}
		if string(reply.Data) != "echo: hi" {
			t.Fatalf("reply %q", reply.Data)
		}
		if _, ok := reply.Headers.Get("x-correlation-id"); !ok {
			t.Error("no x-correlation-id")
		}
		if v, _ := reply.Headers.Get("reply-to-was"); !strings.HasPrefix(string(v), "corq.reply-") {
			t.Errorf("x-reply-to %q", v)
		}
	}
}

func TestRequestThroughAnExchange(t *testing.T) {
	e := memEngine(t, nil)
	if err := e.DeclareExchange("rpc", corq.ExchangeDirect, nil); err != nil {
		t.Fatal(err)
	}
	declare(t, e, "adder", nil)
	if err := e.Bind("rpc", "adder", "add", nil); err != nil {
		t.Fatal(err)
	}
	serve(t, e, "adder", func(d *corq.Delivery) corq.Message { return corq.Message{Data: []byte("3")} })
	reply, err := e.Request(ctxLong(t), "rpc", "add", corq.Message{Data: []byte("1+2")})
	if err != nil || string(reply.Data) != "3" {
		t.Fatalf("Request: %v %v", reply, err)
	}
	_, err = e.Request(ctxLong(t), "rpc", "subtract", corq.Message{})
	wantErr(t, err, corq.ErrUnroutable, "corq_request", "")
	_, err = e.Request(ctxLong(t), "missing", "add", corq.Message{})
	wantErr(t, err, corq.ErrNotFound, "corq_request", "")
}

func TestRequestWithoutResponseEndsAtTheDeadlineWithBothErrors(t *testing.T) {
	e := memEngine(t, nil)
	declare(t, e, "silent", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	var err error
	took := within(t, func() { _, err = e.Request(ctx, "", "silent", corq.Message{}) })
	wantErr(t, err, corq.ErrTimedOut, "corq_request", "")
	if !errors.Is(err, context.DeadlineExceeded) || took < 95*time.Millisecond {
		t.Fatalf("after %v: %v", took, err)
	}
	cancelled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	if _, err := e.Request(cancelled, "", "silent", corq.Message{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Request with a cancelled context: %v", err)
	}
	if s := stats(t, e, "silent"); s.Published != 1 {
		t.Fatalf("a cancelled request was sent: %+v", s)
	}
}

func TestRespondingToANonRequestIsErrInvalidAndAcksNothing(t *testing.T) {
	e := memEngine(t, nil)
	declare(t, e, "q", nil)
	publish(t, e, "q", "not a request")
	c := consumer(t, e, "q", 1)
	d := consumeOne(t, c)
	wantErr(t, d.Respond(corq.Message{}), corq.ErrInvalid, "corq_respond", "")
	if err := d.Ack(); err != nil {
		t.Fatalf("the delivery is still held: %v", err)
	}
	wantErr(t, d.Respond(corq.Message{}), corq.ErrState, "corq_respond", "")
	wantErr(t, d.Respond(corq.Message{DedupID: "a\x00"}), corq.ErrInvalid, "corq_respond", "NUL")
}
