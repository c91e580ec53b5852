// The native executor maps its code page, scratch area and stub at fixed addresses shared by the
// whole process: test classes that run cases natively must never run at the same time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]
