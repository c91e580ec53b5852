namespace HyperLock.Emulator.Devices;

/// <summary>
/// The PC's cascaded 8259A programmable interrupt controller pair: master at 0x20/0x21 (IRQ
/// 0-7), slave at 0xA0/0xA1 (IRQ 8-15) on the master's IRQ 2, plus the edge/level control
/// registers (ELCR) at 0x4D0/0x4D1. Emulated: the ICW1-4 initialization sequence, IRR/ISR/IMR,
/// fixed and rotating priority, non-specific, specific and rotating EOI, automatic EOI,
/// special mask mode, special fully nested mode, poll mode, reading IRR/ISR through OCW3,
/// edge- and level-triggered inputs, and the spurious IRQ 7/15 when a request vanishes
/// before acknowledge. Not emulated: 8080/8085 mode (ICW4 bit 0 clear is accepted and
/// ignored), buffered mode and the LTIM bit (counted as unhandled; ELCR selects level mode).
/// </summary>
public sealed class Pic8259 : IPortDevice
{
    /// <summary>Master command port (ICW1, OCW2, OCW3; reads IRR or ISR).</summary>
    public const ushort MasterCommand = 0x20;
    /// <summary>Master data port (ICW2-4, OCW1 = IMR).</summary>
    public const ushort MasterData = 0x21;
    /// <summary>Slave command port.</summary>
    public const ushort SlaveCommand = 0xA0;
    /// <summary>Slave data port.</summary>
    public const ushort SlaveData = 0xA1;
    /// <summary>Edge/level control register for IRQ 0-7 (bit set: level triggered).</summary>
    public const ushort ElcrMaster = 0x4D0;
    /// <summary>Edge/level control register for IRQ 8-15.</summary>
    public const ushort ElcrSlave = 0x4D1;

    /// <summary>ICW1 marker bit: a command-port write with it set starts initialization.</summary>
    public const byte Icw1Init = 0x10;
    /// <summary>ICW1: ICW4 will follow.</summary>
    public const byte Icw1Ic4 = 0x01;
    /// <summary>ICW1: single controller (no ICW3).</summary>
    public const byte Icw1Single = 0x02;
    /// <summary>ICW1: level-triggered mode for all inputs (not emulated; ELCR is).</summary>
    public const byte Icw1Ltim = 0x08;
    /// <summary>ICW4: 8086 mode (clear: 8080 mode, not emulated).</summary>
    public const byte Icw4Microprocessor = 0x01;
    /// <summary>ICW4: automatic end of interrupt.</summary>
    public const byte Icw4AutoEoi = 0x02;
    /// <summary>ICW4: special fully nested mode.</summary>
    public const byte Icw4Sfnm = 0x10;
    /// <summary>OCW3 marker bit (with bit 4 clear): distinguishes OCW3 from OCW2.</summary>
    public const byte Ocw3Marker = 0x08;
    /// <summary>OCW3: poll command.</summary>
    public const byte Ocw3Poll = 0x04;
    /// <summary>OCW3: read-register command valid (RR).</summary>
    public const byte Ocw3ReadRegister = 0x02;
    /// <summary>OCW3: read ISR (set) or IRR (clear) (RIS).</summary>
    public const byte Ocw3ReadIsr = 0x01;
    /// <summary>OCW3: special-mask-mode command valid (ESMM).</summary>
    public const byte Ocw3Esmm = 0x40;
    /// <summary>OCW3: special mask mode on (SMM).</summary>
    public const byte Ocw3Smm = 0x20;
    /// <summary>OCW2 command (bits 7:5): rotate in automatic-EOI mode, clear.</summary>
    public const int Ocw2RotateAeoiClear = 0;
    /// <summary>OCW2 command: non-specific EOI.</summary>
    public const int Ocw2NonSpecificEoi = 1;
    /// <summary>OCW2 command: no operation.</summary>
    public const int Ocw2Nop = 2;
    /// <summary>OCW2 command: specific EOI (IRQ in bits 2:0).</summary>
    public const int Ocw2SpecificEoi = 3;
    /// <summary>OCW2 command: rotate in automatic-EOI mode, set.</summary>
    public const int Ocw2RotateAeoiSet = 4;
    /// <summary>OCW2 command: rotate on non-specific EOI.</summary>
    public const int Ocw2RotateNonSpecificEoi = 5;
    /// <summary>OCW2 command: set priority (lowest = bits 2:0).</summary>
    public const int Ocw2SetPriority = 6;
    /// <summary>OCW2 command: rotate on specific EOI.</summary>
    public const int Ocw2RotateSpecificEoi = 7;
    /// <summary>The master input the slave is cascaded on.</summary>
    public const int CascadeIrq = 2;
    /// <summary>ELCR bits that must stay zero: IRQ 0, 1, 2 (master), IRQ 8 and 13 (slave).</summary>
    public const byte ElcrMasterMask = 0xF8, ElcrSlaveMask = 0xDE;

    /// <summary>One 8259A.</summary>
    public sealed class Chip
    {
        internal byte LastLevels, Irr, Isr, Imr, Elcr, ElcrMask;
        internal byte VectorBase, PriorityAdd;
        internal int InitState;
        internal bool Init4, Single, AutoEoi, RotateOnAutoEoi, SpecialMask, FullyNested, Poll, ReadIsr;
        internal readonly bool IsMaster;

        internal Chip(bool master, byte elcrMask) { IsMaster = master; ElcrMask = elcrMask; }

        /// <summary>Interrupt request register.</summary>
        public byte RequestRegister => Irr;
        /// <summary>In-service register.</summary>
        public byte InServiceRegister => Isr;
        /// <summary>Interrupt mask register.</summary>
        public byte MaskRegister => Imr;
        /// <summary>Vector of input 0 (ICW2).</summary>
        public byte Base => VectorBase;
        /// <summary>Edge/level control (bit set: level).</summary>
        public byte EdgeLevel => Elcr;

        internal void SetInput(int irq, bool level)
        {
            byte mask = (byte)(1 << irq);
            if ((Elcr & mask) != 0)
            {
                if (level) { Irr |= mask; LastLevels |= mask; }
                else { Irr &= (byte)~mask; LastLevels &= (byte)~mask; }
            }
            else if (level)
            {
                if ((LastLevels & mask) == 0) Irr |= mask;
                LastLevels |= mask;
            }
            else LastLevels &= (byte)~mask;
        }

        /// <summary>Priority (0 = highest) of the best bit in <paramref name="mask"/>, 8 when none.</summary>
        internal int Priority(byte mask)
        {
            if (mask == 0) return 8;
            int p = 0;
            while ((mask & (1 << ((p + PriorityAdd) & 7))) == 0) p++;
            return p;
        }

        /// <summary>The input that would interrupt now, or -1.</summary>
        internal int PendingIrq()
        {
            int p = Priority((byte)(Irr & ~Imr));
            if (p == 8) return -1;
            byte inService = Isr;
            if (SpecialMask) inService &= (byte)~Imr;
            if (FullyNested && IsMaster) inService &= unchecked((byte)~(1 << CascadeIrq));
            int cur = Priority(inService);
            return p < cur ? (p + PriorityAdd) & 7 : -1;
        }

        internal void Acknowledge(int irq)
        {
            byte mask = (byte)(1 << irq);
            if (AutoEoi)
            {
                if (RotateOnAutoEoi) PriorityAdd = (byte)((irq + 1) & 7);
            }
            else Isr |= mask;
            if ((Elcr & mask) == 0) Irr &= (byte)~mask;
        }

        internal void ResetForIcw1()
        {
            LastLevels = 0;
            Irr &= Elcr;
            Imr = 0;
            Isr = 0;
            PriorityAdd = 0;
            VectorBase = 0;
            ReadIsr = false;
            Poll = false;
            SpecialMask = false;
            InitState = 0;
            AutoEoi = false;
            RotateOnAutoEoi = false;
            FullyNested = false;
            Init4 = false;
            Single = false;
        }
    }

    public Chip Master { get; } = new(true, ElcrMasterMask);
    public Chip Slave { get; } = new(false, ElcrSlaveMask);

    /// <summary>Accesses the model does not implement (8080 mode, LTIM, buffered mode).</summary>
    public long UnhandledAccesses { get; private set; }

    /// <summary>Called when the INTR output changes (the interrupt router re-evaluates).</summary>
    public Action? OutputChanged { get; set; }

    /// <summary>The INTR output to the processor (or the local APIC's LINT0).</summary>
    public bool Output { get; private set; }

    /// <summary>Sets the level of an ISA interrupt line (0-15).</summary>
    public void SetIrq(int irq, bool level)
    {
        if ((uint)irq > 15) return;
        if (irq < 8) Master.SetInput(irq, level);
        else Slave.SetInput(irq - 8, level);
        Update();
    }

    /// <summary>Acknowledges the highest-priority request (the INTA cycle) and returns its vector.</summary>
    public int Acknowledge()
    {
        int vector;
        int irq = Master.PendingIrq();
        if (irq >= 0)
        {
            if (irq == CascadeIrq)
            {
                int irq2 = Slave.PendingIrq();
                if (irq2 >= 0) Slave.Acknowledge(irq2);
                else irq2 = 7; // spurious IRQ 15
                vector = Slave.VectorBase + irq2;
            }
            else vector = Master.VectorBase + irq;
            Master.Acknowledge(irq);
        }
        else vector = Master.VectorBase + 7; // spurious IRQ 7
        Update();
        return vector;
    }

    private void Update()
    {
        Master.SetInput(CascadeIrq, Slave.PendingIrq() >= 0);
        bool output = Master.PendingIrq() >= 0;
        if (output != Output)
        {
            Output = output;
            OutputChanged?.Invoke();
        }
    }

    public uint Read(ushort port, int size)
    {
        switch (port)
        {
            case ElcrMaster: return Master.Elcr;
            case ElcrSlave: return Slave.Elcr;
        }
        var chip = port < SlaveCommand ? Master : Slave;
        if (chip.Poll)
        {
            chip.Poll = false;
            int irq = chip.PendingIrq();
            uint r = 0;
            if (irq >= 0)
            {
                if (chip == Master && irq == CascadeIrq)
                {
                    // Polling the master while the slave requests: acknowledge through the cascade.
                    int irq2 = Slave.PendingIrq();
                    if (irq2 >= 0) Slave.Acknowledge(irq2);
                }
                chip.Acknowledge(irq);
                r = 0x80u | (uint)irq;
            }
            Update();
            return r;
        }
        bool command = (port & 1) == 0;
        if (command) return chip.ReadIsr ? chip.Isr : chip.Irr;
        return chip.Imr;
    }

    public void Write(ushort port, int size, uint value)
    {
        byte v = (byte)value;
        switch (port)
        {
            case ElcrMaster: Master.Elcr = (byte)(v & Master.ElcrMask); Update(); return;
            case ElcrSlave: Slave.Elcr = (byte)(v & Slave.ElcrMask); Update(); return;
        }
        var chip = port < SlaveCommand ? Master : Slave;
        bool command = (port & 1) == 0;
        if (command)
        {
            if ((v & Icw1Init) != 0)
            {
                chip.ResetForIcw1();
                chip.InitState = 1;
                chip.Init4 = (v & Icw1Ic4) != 0;
                chip.Single = (v & Icw1Single) != 0;
                if ((v & Icw1Ltim) != 0) UnhandledAccesses++;
            }
            else if ((v & Ocw3Marker) != 0)
            {
                if ((v & Ocw3Poll) != 0) chip.Poll = true;
                if ((v & Ocw3ReadRegister) != 0) chip.ReadIsr = (v & Ocw3ReadIsr) != 0;
                if ((v & Ocw3Esmm) != 0) chip.SpecialMask = (v & Ocw3Smm) != 0;
            }
            else
            {
                int cmd = v >> 5;
                switch (cmd)
                {
                    case Ocw2RotateAeoiClear:
                    case Ocw2RotateAeoiSet:
                        chip.RotateOnAutoEoi = cmd == Ocw2RotateAeoiSet;
                        break;
                    case Ocw2NonSpecificEoi:
                    case Ocw2RotateNonSpecificEoi:
                    {
                        int p = chip.Priority(chip.Isr);
                        if (p != 8)
                        {
                            int irq = (p + chip.PriorityAdd) & 7;
                            chip.Isr &= (byte)~(1 << irq);
                            if (cmd == Ocw2RotateNonSpecificEoi) chip.PriorityAdd = (byte)((irq + 1) & 7);
                        }
                        break;
                    }
                    case Ocw2SpecificEoi:
                        chip.Isr &= (byte)~(1 << (v & 7));
                        break;
                    case Ocw2SetPriority:
                        chip.PriorityAdd = (byte)((v + 1) & 7);
                        break;
                    case Ocw2RotateSpecificEoi:
                        chip.Isr &= (byte)~(1 << (v & 7));
                        chip.PriorityAdd = (byte)(((v & 7) + 1) & 7);
                        break;
                    case Ocw2Nop:
                        break;
                }
            }
        }
        else
        {
            switch (chip.InitState)
            {
                case 0: chip.Imr = v; break;
                case 1:
                    chip.VectorBase = (byte)(v & 0xF8);
                    chip.InitState = chip.Single ? (chip.Init4 ? 3 : 0) : 2;
                    break;
                case 2:
                    chip.InitState = chip.Init4 ? 3 : 0;
                    break;
                case 3:
                    if ((v & Icw4Microprocessor) == 0 || (v & 0x0C) != 0) UnhandledAccesses++;
                    chip.FullyNested = (v & Icw4Sfnm) != 0;
                    chip.AutoEoi = (v & Icw4AutoEoi) != 0;
                    chip.InitState = 0;
                    break;
            }
        }
        Update();
    }
}
