// Command hold-lock holds the lock "reports" through the sidecar's Hold call
// while its work runs, and stops the work if the lease is lost.
package main

import (
	"context"
	"log"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	lockv1 "example.com/yourapp/gen-clients/go/lock/v1"
)

func main() {
	conn, err := grpc.NewClient("127.0.0.1:50051", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()

	locks := lockv1.NewLockServiceClient(conn)
	// Cancelling ctx ends the call, and the sidecar releases the lease.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hold, err := locks.Hold(ctx, &lockv1.HoldRequest{
		Name: "reports",
		Ttl:  durationpb.New(30 * time.Second),
		Wait: durationpb.New(5 * time.Second),
	})
	if err != nil {
		log.Fatal(err)
	}
	first, err := hold.Recv()
	if err != nil {
		log.Fatal(err) // UNAVAILABLE: no majority of instances answered; retry later
	}
	if !first.GetAcquired() {
		log.Printf("held elsewhere; retry in %v", first.GetRetryAfter().AsDuration())
		return
	}

	// Renewals arrive while the lease is held. Any end we did not cause means
	// it is lost (FAILED_PRECONDITION) or no longer renewed: stop the work.
	go func() {
		var err error
		for err == nil {
			_, err = hold.Recv()
		}
		if ctx.Err() == nil {
			log.Printf("lease lost (%v): stopping the work", status.Code(err))
			cancel()
		}
	}()
	lease := first.GetLease()
	work(ctx, lease.GetFencingToken())

	// A process that exits right after cancelling may close the connection
	// before the cancel is sent, and then the lease only runs out: release it.
	cancel()
	if _, err := locks.Release(context.Background(), &lockv1.ReleaseRequest{Name: lease.GetName(), LeaseId: lease.GetLeaseId()}); err != nil {
		log.Printf("release: %v (the lease runs out at its last expires_at)", err)
	}
}

// work passes the fencing token to the protected resource and stops when ctx is done.
func work(ctx context.Context, fencingToken uint64) {
	log.Printf("holding the lock with fencing token %d", fencingToken)
	select {
	case <-time.After(10 * time.Second):
	case <-ctx.Done():
	}
}
