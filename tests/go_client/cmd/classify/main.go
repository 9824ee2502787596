// Command classify calls tierline's Classify over TLS with a bearer token, using
// only code generated from proto/tierline/v1/classifier.proto, as a Go team would.
// It prints the tier and exits 0 when it is the one expected, 1 otherwise.
//
// Usage: classify -addr 127.0.0.1:PORT -ca CA.pem -token-file FILE -want micro
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	tierlinev1 "tierline.dev/gen/go/tierline/v1"
)

func main() {
	addr := flag.String("addr", "", "host:port of tierline serve")
	ca := flag.String("ca", "", "PEM file of the CA that signed the server's certificate")
	tokenFile := flag.String("token-file", "", "file holding the bearer token (never on the command line)")
	want := flag.String("want", "", "the tier expected")
	dialTimeout := flag.Duration("dial-timeout", 10*time.Second, "longest wait for a connection")
	flag.Parse()

	creds, err := credentials.NewClientTLSFromFile(*ca, "localhost")
	if err != nil {
		fail("tls: %v", err)
	}
	raw, err := os.ReadFile(*tokenFile)
	if err != nil {
		fail("token: %v", err)
	}
	token := strings.TrimSpace(string(raw))

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Block until connected, at most -dial-timeout, and say why it could not (a
	// certificate the CA did not sign) rather than only that time ran out.
	dialCtx, dialCancel := context.WithTimeout(ctx, *dialTimeout)
	defer dialCancel()
	conn, err := grpc.DialContext(dialCtx, *addr, grpc.WithTransportCredentials(creds),
		grpc.WithBlock(), grpc.WithReturnConnectionError())
	if err != nil {
		fail("dial %s: %v", *addr, err)
	}
	defer conn.Close()

	client := tierlinev1.NewClassifierClient(conn)
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	request := &tierlinev1.ClassifyRequest{
		Ruleset: "synthesis",
		Account: &tierlinev1.Account{
			Id: "go-1",
			Attributes: map[string]*tierlinev1.Value{
				"followers":       {Kind: &tierlinev1.Value_IntValue{IntValue: 45000}},
				"engagement_rate": {Kind: &tierlinev1.Value_DoubleValue{DoubleValue: 0.042}},
				"topics": {Kind: &tierlinev1.Value_StringList{
					StringList: &tierlinev1.StringList{Values: []string{"fashion"}}}},
				"platform": {Kind: &tierlinev1.Value_StringValue{StringValue: "instagram"}},
			},
		},
		View:      tierlinev1.DecisionView_DECISION_VIEW_FULL,
		RequestId: "go-client",
	}
	response, err := client.Classify(ctx, request)
	if err != nil {
		s, _ := status.FromError(err)
		fail("Classify: %s: %s", s.Code(), s.Message())
	}
	decision := response.GetDecision()
	fmt.Printf("tier=%s decision_id=%s digest=%s\n",
		decision.GetTier(), decision.GetDecisionId(), decision.GetDigest())
	if decision.GetTier() != *want {
		fail("tier %q, want %q", decision.GetTier(), *want)
	}
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "classify: "+format+"\n", args...)
	os.Exit(1)
}
