namespace HyperLock.Emulator.Devices;

/// <summary>
/// An i8042 PS/2 keyboard controller that emulates just enough to reset the machine and to
/// answer the probes an OS makes: the status register at 0x64, the data port at 0x60, the
/// controller self-test (0xAA → 0x55), interface tests (0xAB/0xA9 → 0x00), reading and
/// writing the command byte (0x20/0x60), disabling and enabling the ports, the output-port
/// write (0xD1) whose bit 0 clear resets the CPU, and the pulse-output command 0xFE (CPU
/// reset). No keyboard or mouse is attached: bytes written to the devices get no answer
/// (0xD2-0xD4 and plain data writes are counted and dropped).
/// </summary>
public sealed class I8042 : IPortDevice
{
    /// <summary>Data port (read: output buffer; write: input buffer / command parameter).</summary>
    public const ushort DataPort = 0x60;
    /// <summary>Status (read) and command (write) port.</summary>
    public const ushort CommandPort = 0x64;

    /// <summary>Status: output buffer full (data waiting at 0x60).</summary>
    public const byte StatusOutputFull = 0x01;
    /// <summary>Status: input buffer full (never: commands are taken at once).</summary>
    public const byte StatusInputFull = 0x02;
    /// <summary>Status: system flag (self-test passed).</summary>
    public const byte StatusSystem = 0x04;
    /// <summary>Status: last write was a command (0x64) rather than data.</summary>
    public const byte StatusCommand = 0x08;
    /// <summary>Status: keyboard not inhibited (the keylock switch is open).</summary>
    public const byte StatusUnlocked = 0x10;

    /// <summary>Command: read the command byte.</summary>
    public const byte CmdReadCommandByte = 0x20;
    /// <summary>Command: write the command byte (next data byte).</summary>
    public const byte CmdWriteCommandByte = 0x60;
    /// <summary>Command: disable the auxiliary (mouse) port.</summary>
    public const byte CmdDisableAux = 0xA7;
    /// <summary>Command: enable the auxiliary port.</summary>
    public const byte CmdEnableAux = 0xA8;
    /// <summary>Command: test the auxiliary port (answers 0x00: passed).</summary>
    public const byte CmdTestAux = 0xA9;
    /// <summary>Command: controller self-test (answers 0x55).</summary>
    public const byte CmdSelfTest = 0xAA;
    /// <summary>Command: test the keyboard port (answers 0x00: passed).</summary>
    public const byte CmdTestKeyboard = 0xAB;
    /// <summary>Command: disable the keyboard port.</summary>
    public const byte CmdDisableKeyboard = 0xAD;
    /// <summary>Command: enable the keyboard port.</summary>
    public const byte CmdEnableKeyboard = 0xAE;
    /// <summary>Command: read the output port.</summary>
    public const byte CmdReadOutputPort = 0xD0;
    /// <summary>Command: write the output port (next data byte; bit 0 clear resets the CPU).</summary>
    public const byte CmdWriteOutputPort = 0xD1;
    /// <summary>Command: write to the keyboard output buffer (loop back the next data byte).</summary>
    public const byte CmdWriteKeyboardBuffer = 0xD2;
    /// <summary>Command: write to the aux output buffer (loop back the next data byte).</summary>
    public const byte CmdWriteAuxBuffer = 0xD3;
    /// <summary>Command: send the next data byte to the aux device (none attached).</summary>
    public const byte CmdWriteAux = 0xD4;
    /// <summary>Command: pulse output lines; bit 0 clear in the low nibble resets the CPU.</summary>
    public const byte CmdResetCpu = 0xFE;
    /// <summary>Answer to a passed controller self-test.</summary>
    public const byte SelfTestPassed = 0x55;
    /// <summary>Output port bit 0: CPU reset line (active low).</summary>
    public const byte OutputPortReset = 0x01;
    /// <summary>Output port bit 1: A20 gate.</summary>
    public const byte OutputPortA20 = 0x02;
    /// <summary>Command byte power-on value: keyboard interrupt on, system flag, translation.</summary>
    public const byte DefaultCommandByte = 0x45;
    /// <summary>Command byte bit 4: keyboard port disabled.</summary>
    public const byte CommandByteKeyboardDisabled = 0x10;
    /// <summary>Command byte bit 5: aux port disabled.</summary>
    public const byte CommandByteAuxDisabled = 0x20;

    private readonly Action _reset;
    private byte _commandByte = DefaultCommandByte, _outputPort = OutputPortReset | OutputPortA20;
    private byte _pendingCommand, _status = StatusSystem | StatusUnlocked;
    private readonly Queue<byte> _output = new();

    /// <summary>Accesses the model does not implement (unknown commands, device writes).</summary>
    public long UnhandledAccesses { get; private set; }

    /// <param name="reset">Called when the guest pulses the CPU reset line.</param>
    public I8042(Action reset) => _reset = reset;

    public uint Read(ushort port, int size)
    {
        if (port == CommandPort)
            return (uint)(_status | (_output.Count > 0 ? StatusOutputFull : 0));
        return _output.Count > 0 ? _output.Dequeue() : (byte)0;
    }

    public void Write(ushort port, int size, uint value)
    {
        byte v = (byte)value;
        if (port == CommandPort)
        {
            _status |= StatusCommand;
            Command(v);
            return;
        }
        _status &= unchecked((byte)~StatusCommand);
        byte cmd = _pendingCommand;
        _pendingCommand = 0;
        switch (cmd)
        {
            case CmdWriteCommandByte: _commandByte = v; break;
            case CmdWriteOutputPort:
                _outputPort = v;
                if ((v & OutputPortReset) == 0) _reset();
                break;
            case CmdWriteKeyboardBuffer:
            case CmdWriteAuxBuffer:
                _output.Enqueue(v);
                break;
            default:
                UnhandledAccesses++; // a byte for the keyboard or mouse: nothing is attached
                break;
        }
    }

    private void Command(byte v)
    {
        switch (v)
        {
            case CmdReadCommandByte: _output.Enqueue(_commandByte); break;
            case CmdWriteCommandByte:
            case CmdWriteOutputPort:
            case CmdWriteKeyboardBuffer:
            case CmdWriteAuxBuffer:
            case CmdWriteAux:
                _pendingCommand = v;
                break;
            case CmdDisableAux: _commandByte |= CommandByteAuxDisabled; break;
            case CmdEnableAux: _commandByte &= unchecked((byte)~CommandByteAuxDisabled); break;
            case CmdTestAux: _output.Enqueue(0x00); break;
            case CmdSelfTest: _output.Enqueue(SelfTestPassed); break;
            case CmdTestKeyboard: _output.Enqueue(0x00); break;
            case CmdDisableKeyboard: _commandByte |= CommandByteKeyboardDisabled; break;
            case CmdEnableKeyboard: _commandByte &= unchecked((byte)~CommandByteKeyboardDisabled); break;
            case CmdReadOutputPort: _output.Enqueue(_outputPort); break;
            default:
                if ((v & 0xF0) == 0xF0)
                {
                    // Pulse output port lines: a 0 in bit 0 of the mask pulses the reset line.
                    if ((v & OutputPortReset) == 0) _reset();
                }
                else UnhandledAccesses++;
                break;
        }
    }
}
